/* The Python stack of the calling thread, read from the interpreter's own frames.
 *
 * Each CPython version lays out its frames differently; CPython's own Python/tracemalloc.c
 * of that version is the reference for the walk. Nothing here makes an object, takes a lock
 * or touches a reference count: the caller reads only its own thread's frames, which only
 * that thread changes.
 *
 *   3.11         tstate->cframe->current_frame, frame->f_code
 *   3.13         tstate->current_frame, frame->f_executable (an object)
 *   3.14, 3.15   tstate->current_frame, frame->f_executable (a stack reference)
 *
 * Incomplete frames (not yet running their first instruction, or the C stack's shim frames)
 * are skipped, as tracemalloc skips them. A version not listed gets no frames: every
 * allocation then goes to the "<native>" site and the module says so (FRAME_READER "").
 */
#ifndef HARNESS_NATIVE_FRAMES_H
#define HARNESS_NATIVE_FRAMES_H

/* 3.12 has no reader: no CPython 3.12 could be had to test one on, and an untested walk of
 * an interpreter's frames is worse than none. It gets the totals, and says so. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x03100000 && (PY_VERSION_HEX & 0xFFFF0000) != 0x030C0000
#define HAS_FRAMES 1
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#define HARNESS_UNDEF_BUILD_CORE 1
#endif
#if PY_VERSION_HEX >= 0x030E0000
#include "internal/pycore_interp_structs.h" /* the collector's state */
#include "internal/pycore_interpframe.h"    /* the frame's layout moved here in 3.14 */
#else
#include "internal/pycore_frame.h"
#include "internal/pycore_interp.h"
#endif
#ifdef HARNESS_UNDEF_BUILD_CORE
#undef Py_BUILD_CORE
#endif
#else
#define HAS_FRAMES 0
#endif

#if PY_VERSION_HEX < 0x030D0000
#define PyThreadState_GetUnchecked _PyThreadState_UncheckedGet /* public from 3.13 on */
#endif

#if HAS_FRAMES

#if PY_VERSION_HEX < 0x030D0000 /* 3.11 */
#define FRAME_READER "cframe->current_frame, f_code"
static inline _PyInterpreterFrame *newest_frame(PyThreadState *tstate) {
    return tstate->cframe != NULL ? tstate->cframe->current_frame : NULL;
}
static inline PyObject *frame_executable(_PyInterpreterFrame *frame) { return (PyObject *)frame->f_code; }
#elif PY_VERSION_HEX < 0x030E0000 /* 3.13 */
#define FRAME_READER "current_frame, f_executable"
static inline _PyInterpreterFrame *newest_frame(PyThreadState *tstate) { return tstate->current_frame; }
static inline PyObject *frame_executable(_PyInterpreterFrame *frame) { return frame->f_executable; }
#else /* 3.14 and 3.15: the executable is a stack reference */
#define FRAME_READER "current_frame, f_executable stack reference"
static inline _PyInterpreterFrame *newest_frame(PyThreadState *tstate) { return tstate->current_frame; }
static inline PyObject *frame_executable(_PyInterpreterFrame *frame) {
    return PyStackRef_AsPyObjectBorrow(frame->f_executable);
}
#endif

/* Up to ``max_depth`` (code object, instruction index) pairs of ``tstate``'s stack, innermost
 * first; the count. */
static inline uint32_t read_frames(PyThreadState *tstate, PyCodeObject **code, int *instr, uint32_t max_depth) {
    uint32_t depth = 0;
    for (_PyInterpreterFrame *frame = newest_frame(tstate); frame != NULL && depth < max_depth;
         frame = frame->previous) {
        PyObject *executable = frame_executable(frame);
        /* Entry frames of the C stack hold no code object on the newer versions. */
        if (executable == NULL || !PyCode_Check(executable) || _PyFrame_IsIncomplete(frame)) continue;
        code[depth] = (PyCodeObject *)executable;
        instr[depth] = _PyInterpreterFrame_LASTI(frame);
        depth++;
    }
    return depth;
}

/* Whether the cyclic collector is running in ``tstate``'s interpreter: what it allocates and
 * frees then is its own doing, wherever the allocation that set it off happened to be. */
static inline int collector_running(PyThreadState *tstate) { return tstate->interp->gc.collecting; }

#else
#define FRAME_READER ""
static inline int collector_running(PyThreadState *tstate) {
    (void)tstate;
    return 0;
}
#endif

#endif
