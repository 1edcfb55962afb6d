/* harness._native: exact allocation counts of measured windows, from allocator hooks.
 *
 * Two kinds of hook feed one pointer -> size table of every live block of the trial:
 *
 *  - PyMem_SetAllocator hooks on the raw, mem and object domains, which wrap the allocators
 *    installed before them and forward every call (never replacing them);
 *  - on Linux with glibc, the C library's allocation functions (malloc, calloc, realloc,
 *    free, posix_memalign, aligned_alloc, memalign, valloc, pvalloc, reallocarray), which
 *    this same shared object defines: preloaded into the trial child (LD_PRELOAD), it
 *    interposes them for every library of the process, so what C extensions and the
 *    libraries they link take from malloc is counted too. The interposed functions serve
 *    each call from glibc's own (__libc_malloc and friends).
 *
 * Each allocation is counted once: a per-thread flag marks a hook as entered, so the malloc
 * that PyMem_RawMalloc makes, or the raw allocation behind a large pymalloc object, is not
 * counted again. The tables live in memory from glibc's allocator, taken past the hooks, so
 * the tracer adds nothing of its own to what it counts, and it makes no Python object while
 * a window is open.
 *
 * Per window: allocations and their bytes; what of them is still alive at the end (kept);
 * in-use at the end minus at the start (net; frees of blocks older than the window count
 * here, so a drain reads negative); the highest in-use above the start (peak).
 *
 * realloc counts as the free of the old block and the allocation of the new one, whether or
 * not the block moved: the allocator served a new size, as tracemalloc and memray count it.
 *
 * The raw domain and the C library are called without the GIL from any thread, so every
 * access to the tables takes one spin lock. The Python stack is read only where the GIL is
 * held by the calling thread (mem and object domains; raw and C library when
 * PyGILState_Check says so); other allocations go to the "<native>" site (id 0).
 *
 * Call sites are keyed by up to MAX_DEPTH (code object, instruction) pairs read from the
 * interpreter's own frames (no frame objects are made; _native_frames.h reads each
 * version's layout); they are turned into file, line and function only after the window, by
 * site_stack(). Code objects that key a site are kept alive (a strong reference) until stop().
 *
 * suspend() and resume() bracket the harness's own work inside a window (its clock readings
 * and counters): what the calling thread allocates meanwhile is not tracked, and what it
 * frees of older memory leaves the window's figures as they were. A window may open with
 * the thread suspended (begin() leaves it as it is) and end() resumes it, so that the
 * harness's code at either edge is never the window's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_native_frames.h"

#if defined(__linux__) && defined(__GLIBC__)
#define INTERPOSES_LIBC 1
#include <dlfcn.h>
/* glibc's own allocator, past any interposition (exported since its first versions). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
#define own_malloc __libc_malloc
#define own_calloc __libc_calloc
#define own_realloc __libc_realloc
#define own_free __libc_free
#else
#define INTERPOSES_LIBC 0
#define own_malloc malloc
#define own_calloc calloc
#define own_realloc realloc
#define own_free free
#endif

#define MAX_DEPTH 8
#define EMPTY_SLOT UINT32_MAX
#define NATIVE_SITE 0u
#define COLLECTOR_SITE 1u

/* ---- the lock and the re-entry flag ---------------------------------------------- */

static int lock_word;

static inline void lock(void) {
    unsigned spins = 0;
    while (__atomic_exchange_n(&lock_word, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&lock_word, __ATOMIC_RELAXED)) {
            if (++spins > 64) {
                sched_yield();
                spins = 0;
            }
        }
    }
}

static inline void unlock(void) { __atomic_store_n(&lock_word, 0, __ATOMIC_RELEASE); }

static __thread int entered __attribute__((tls_model("initial-exec")));
/* Set by suspend() on the thread doing the harness's own work inside a window. */
static __thread int suspended __attribute__((tls_model("initial-exec")));

/* ---- the pointer -> size table (open addressing, linear probing) ------------------ */

typedef struct {
    uintptr_t ptr; /* 0: empty */
    size_t size;
    uint32_t window; /* the window that allocated it, 0 outside windows */
    uint32_t site;
} block_t;

static block_t *blocks;
static size_t blocks_mask; /* capacity - 1, capacity a power of two */
static size_t blocks_used;

static inline size_t ptr_slot(uintptr_t ptr) {
    uint64_t h = (uint64_t)(ptr >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29)) & blocks_mask;
}

/* A zeroed table, its pages touched now: a fresh calloc of megabytes would fault its pages
 * in one by one at the first random insert into each, inside whatever window comes next. */
static block_t *blocks_new(size_t capacity) {
    block_t *table = own_malloc(capacity * sizeof(block_t));
    if (table != NULL) memset(table, 0, capacity * sizeof(block_t));
    return table;
}

static int blocks_init(size_t capacity) {
    blocks = blocks_new(capacity);
    if (blocks == NULL) return -1;
    blocks_mask = capacity - 1;
    blocks_used = 0;
    return 0;
}

static void blocks_put_nogrow(block_t block) {
    size_t i = ptr_slot(block.ptr);
    while (blocks[i].ptr != 0 && blocks[i].ptr != block.ptr) i = (i + 1) & blocks_mask;
    if (blocks[i].ptr == 0) blocks_used++;
    blocks[i] = block;
}

/* Double the table; on failure keep the old one (it only gets slower, never wrong). */
static void blocks_grow(void) {
    block_t *old = blocks;
    size_t old_capacity = blocks_mask + 1;
    block_t *bigger = blocks_new(old_capacity * 2);
    if (bigger == NULL) return;
    blocks = bigger;
    blocks_mask = old_capacity * 2 - 1;
    blocks_used = 0;
    for (size_t i = 0; i < old_capacity; i++) {
        if (old[i].ptr != 0) blocks_put_nogrow(old[i]);
    }
    own_free(old);
}

/* 0 when the table is full and cannot grow: the block is then not tracked. */
static int blocks_put(block_t block) {
    if ((blocks_used + 1) * 4 > (blocks_mask + 1) * 3) {
        blocks_grow();
        if ((blocks_used + 1) >= blocks_mask) return 0;
    }
    blocks_put_nogrow(block);
    return 1;
}

/* Remove ``ptr``; backward-shift deletion keeps every probe run whole without tombstones. */
static int blocks_take(uintptr_t ptr, block_t *out) {
    size_t i = ptr_slot(ptr);
    while (blocks[i].ptr != ptr) {
        if (blocks[i].ptr == 0) return 0;
        i = (i + 1) & blocks_mask;
    }
    *out = blocks[i];
    size_t hole = i;
    size_t j = i;
    for (;;) {
        j = (j + 1) & blocks_mask;
        if (blocks[j].ptr == 0) break;
        size_t home = ptr_slot(blocks[j].ptr);
        /* Move j into the hole unless its home lies cyclically in (hole, j]. */
        int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            blocks[hole] = blocks[j];
            hole = j;
        }
    }
    blocks[hole].ptr = 0;
    blocks_used--;
    return 1;
}

/* ---- call sites ------------------------------------------------------------------- */

typedef struct {
    uint32_t depth;
#if HAS_FRAMES
    PyCodeObject *code[MAX_DEPTH];
    int instr[MAX_DEPTH];
#endif
} stack_t_;

typedef struct {
    int64_t alloc_count, alloc_bytes, kept_count, kept_bytes, older_freed_count, older_freed_bytes;
} figures_t;

typedef struct {
    stack_t_ stack;
    uint64_t hash;
    figures_t figures; /* of the current (or last) window */
} site_t;

static site_t *sites;
static uint32_t sites_len, sites_capacity;
static uint32_t *site_slots; /* open addressing on the stack hash -> site id */
static size_t site_slots_mask;
static int sites_on;

static uint64_t stack_hash(const stack_t_ *stack) {
    uint64_t h = 0xcbf29ce484222325ull ^ stack->depth;
#if HAS_FRAMES
    for (uint32_t i = 0; i < stack->depth; i++) {
        h = (h ^ (uint64_t)(uintptr_t)stack->code[i]) * 0x100000001b3ull;
        h = (h ^ (uint64_t)(uint32_t)stack->instr[i]) * 0x100000001b3ull;
    }
#endif
    return h ^ (h >> 31);
}

static int stack_equal(const stack_t_ *a, const stack_t_ *b) {
    if (a->depth != b->depth) return 0;
#if HAS_FRAMES
    for (uint32_t i = 0; i < a->depth; i++) {
        if (a->code[i] != b->code[i] || a->instr[i] != b->instr[i]) return 0;
    }
#endif
    return 1;
}

/* The calling thread's Python stack, innermost first, read from ``tstate`` (this thread's). */
static void read_stack(PyThreadState *tstate, stack_t_ *stack) {
#if HAS_FRAMES
    stack->depth = tstate != NULL ? read_frames(tstate, stack->code, stack->instr, MAX_DEPTH) : 0;
#else
    (void)tstate;
    stack->depth = 0;
#endif
}

static int site_slots_rebuild(size_t capacity) {
    uint32_t *slots = own_malloc(capacity * sizeof(uint32_t));
    if (slots == NULL) return -1;
    memset(slots, 0xff, capacity * sizeof(uint32_t));
    for (uint32_t id = 0; id < sites_len; id++) {
        size_t i = (size_t)sites[id].hash & (capacity - 1);
        while (slots[i] != EMPTY_SLOT) i = (i + 1) & (capacity - 1);
        slots[i] = id;
    }
    own_free(site_slots);
    site_slots = slots;
    site_slots_mask = capacity - 1;
    return 0;
}

/* The stacks looked up last and their sites, by innermost instruction: a loop allocates at
 * a few sites over and over, and a hit skips the hash and the probe. */
#define RECENT 16
static stack_t_ recent_stack[RECENT];
static uint32_t recent_site[RECENT];

static inline size_t recent_slot(const stack_t_ *stack) {
#if HAS_FRAMES
    return (((uintptr_t)stack->code[0] >> 4) ^ ((uintptr_t)stack->instr[0] * 31u)) & (RECENT - 1);
#else
    (void)stack;
    return 0;
#endif
}

static uint32_t site_lookup(const stack_t_ *stack, int may_make);

/* How the site of an allocation is found (see stack_of). */
enum { KNOWN_SITE_ONLY, MAY_MAKE_SITE, BY_COLLECTOR };

/* The id of ``stack``'s site, made if new and ``how`` allows; NATIVE_SITE when memory runs
 * out, or when the site is new and may not be made. Lock held. */
static uint32_t site_of(const stack_t_ *stack, int how) {
    if (how == BY_COLLECTOR) return COLLECTOR_SITE;
    if (stack->depth == 0) return NATIVE_SITE;
    size_t slot = recent_slot(stack);
    if (recent_site[slot] != NATIVE_SITE && stack_equal(stack, &recent_stack[slot])) return recent_site[slot];
    uint32_t id = site_lookup(stack, how == MAY_MAKE_SITE);
    if (id != NATIVE_SITE) {
        recent_stack[slot] = *stack;
        recent_site[slot] = id;
    }
    return id;
}

static uint32_t site_lookup(const stack_t_ *stack, int may_make) {
    uint64_t hash = stack_hash(stack);
    size_t i = (size_t)hash & site_slots_mask;
    while (site_slots[i] != EMPTY_SLOT) {
        site_t *known = &sites[site_slots[i]];
        if (known->hash == hash && stack_equal(&known->stack, stack)) return site_slots[i];
        i = (i + 1) & site_slots_mask;
    }
    if (!may_make) return NATIVE_SITE;
    if (sites_len == sites_capacity) {
        site_t *bigger = own_realloc(sites, (size_t)sites_capacity * 2 * sizeof(site_t));
        if (bigger == NULL) return NATIVE_SITE;
        sites = bigger;
        sites_capacity *= 2;
    }
    if (((size_t)sites_len + 1) * 2 > site_slots_mask + 1) {
        if (site_slots_rebuild((site_slots_mask + 1) * 2) != 0) return NATIVE_SITE;
        i = (size_t)hash & site_slots_mask;
        while (site_slots[i] != EMPTY_SLOT) i = (i + 1) & site_slots_mask;
    }
    uint32_t id = sites_len++;
    site_t *site = &sites[id];
    memset(site, 0, sizeof(*site));
    site->stack = *stack;
    site->hash = hash;
#if HAS_FRAMES
    /* The GIL is held (the stack was read under it): keep the code objects alive while keys. */
    for (uint32_t d = 0; d < stack->depth; d++) Py_INCREF(stack->code[d]);
#endif
    site_slots[i] = id;
    return id;
}

/* ---- the trial and its windows ---------------------------------------------------- */

typedef struct {
    int64_t alloc_count, alloc_bytes, kept_count, kept_bytes;
    int64_t start_count, start_bytes, peak_bytes;
    int64_t net_count, net_bytes; /* set when the window closes */
} window_t;

static int installed;
static int window_open; /* read without the lock by the hooks, as a hint; rechecked under it */
static uint32_t window_id;
static window_t window;
static int64_t in_use_count, in_use_bytes;

/* Where an allocation comes from: whether the GIL is known to be held decides whether the
 * Python stack may be read. */
enum { FROM_RAW, FROM_MEM, FROM_OBJ, FROM_LIBC };

static inline int holds_gil(int source) {
    return source == FROM_MEM || source == FROM_OBJ || PyGILState_Check();
}

/* The Python stack behind an allocation from ``source``, and how its site is found.
 *
 * With the GIL held, a new site may be made: its code objects can be given a reference.
 * Without it (a C library that released the GIL around its malloc, as numpy does for large
 * zeroed buffers), the thread's own frames are still there to read, but touching a
 * reference count is not safe: the allocation goes to the site of that same stack if one
 * was made before (by an allocation with the GIL at the same call), else to "<native>".
 * While the cyclic collector runs, what it allocates and frees goes to "<gc>": it runs when
 * an allocation count is reached, so the line it would otherwise be charged to is whichever
 * happened to be running then, and moves whenever an earlier line allocates more. */
static int stack_of(int source, stack_t_ *stack) {
    if (holds_gil(source)) {
        PyThreadState *tstate = PyThreadState_GetUnchecked();
        if (tstate != NULL && collector_running(tstate)) {
            stack->depth = 0;
            return BY_COLLECTOR;
        }
        read_stack(tstate, stack);
        return MAY_MAKE_SITE;
    }
    read_stack(PyGILState_GetThisThreadState(), stack);
    return KNOWN_SITE_ONLY;
}

static void record_alloc(int source, void *ptr, size_t size) {
    if (suspended) return; /* the harness's own: never tracked */
    stack_t_ stack;
    stack.depth = 0;
    int how = KNOWN_SITE_ONLY;
    int in_window = __atomic_load_n(&window_open, __ATOMIC_RELAXED);
    if (in_window && sites_on) how = stack_of(source, &stack);
    lock();
    if (blocks == NULL) { /* stop() ran while this thread was inside a hook */
        unlock();
        return;
    }
    in_window = window_open;
    block_t block = {(uintptr_t)ptr, size, in_window ? window_id : 0, NATIVE_SITE};
    if (in_window && sites_on) block.site = site_of(&stack, how);
    if (blocks_put(block)) {
        in_use_count++;
        in_use_bytes += (int64_t)size;
        if (in_window) {
            window.alloc_count++;
            window.alloc_bytes += (int64_t)size;
            window.kept_count++;
            window.kept_bytes += (int64_t)size;
            int64_t above = in_use_bytes - window.start_bytes;
            if (above > window.peak_bytes) window.peak_bytes = above;
            if (sites_on) {
                figures_t *f = &sites[block.site].figures;
                f->alloc_count++;
                f->alloc_bytes += (int64_t)size;
                f->kept_count++;
                f->kept_bytes += (int64_t)size;
            }
        }
    }
    unlock();
}

/* What forget_locked did with a block. */
enum {
    NOT_TRACKED,
    FORGOTTEN,
    OLDER_FREED,       /* older than the window, freed in it: the free still needs a site */
    OLDER_FREED_QUIET, /* older than the window, freed by the harness: as if never there */
};

/* Drop ``ptr`` from the table and the figures (lock held). */
static int forget_locked(uintptr_t ptr, block_t *block) {
    if (blocks == NULL || !blocks_take(ptr, block)) return NOT_TRACKED;
    in_use_count--;
    in_use_bytes -= (int64_t)block->size;
    if (!window_open) return FORGOTTEN;
    if (block->window == window_id) {
        window.kept_count--;
        window.kept_bytes -= (int64_t)block->size;
        if (sites_on) {
            figures_t *f = &sites[block->site].figures;
            f->kept_count--;
            f->kept_bytes -= (int64_t)block->size;
        }
        return FORGOTTEN;
    }
    if (suspended) {
        /* The window starts without it, so neither its net nor its peak sees the free. */
        window.start_count--;
        window.start_bytes -= (int64_t)block->size;
        return OLDER_FREED_QUIET;
    }
    return sites_on ? OLDER_FREED : FORGOTTEN;
}

/* Undo forget_locked when a realloc failed and the old block lives on (lock held). */
static void unforget_locked(const block_t *block, int forgotten) {
    if (blocks == NULL || forgotten == NOT_TRACKED) return;
    blocks_put(*block);
    in_use_count++;
    in_use_bytes += (int64_t)block->size;
    if (forgotten == OLDER_FREED_QUIET) {
        window.start_count++;
        window.start_bytes += (int64_t)block->size;
    }
    if (window_open && block->window == window_id) {
        window.kept_count++;
        window.kept_bytes += (int64_t)block->size;
        if (sites_on) {
            figures_t *f = &sites[block->site].figures;
            f->kept_count++;
            f->kept_bytes += (int64_t)block->size;
        }
    }
}

/* A block older than the window was freed in it. Its allocation was not profiled, so the
 * free is attributed to where it happens: a drain shows where it drains. */
static void older_freed(int source, size_t size) {
    stack_t_ stack;
    int how = stack_of(source, &stack);
    lock();
    if (window_open && sites != NULL) {
        figures_t *f = &sites[site_of(&stack, how)].figures;
        f->older_freed_count++;
        f->older_freed_bytes += (int64_t)size;
    }
    unlock();
}

/* The bookkeeping of a free, before and after the allocator lets the block go: the block
 * leaves the table first, so no other thread is handed that address while it is listed. */
static int free_begin(void *ptr, block_t *block) {
    lock();
    int forgotten = forget_locked((uintptr_t)ptr, block);
    unlock();
    return forgotten;
}

static void free_end(int source, int forgotten, const block_t *block) {
    if (forgotten == OLDER_FREED) older_freed(source, block->size);
}

/* realloc: the old block leaves the table and the lock is held across the allocator's call;
 * ``freed`` says whether the old block is gone (moved, or freed by a zero size). */
static int realloc_begin(void *old, block_t *block) {
    lock();
    return old != NULL ? forget_locked((uintptr_t)old, block) : NOT_TRACKED;
}

static void realloc_end(int source, int forgotten, const block_t *block, void *ptr, size_t size, int freed) {
    if (!freed) unforget_locked(block, forgotten);
    unlock();
    if (freed) free_end(source, forgotten, block);
    if (ptr != NULL) record_alloc(source, ptr, size);
}

/* ---- the PyMem hooks: wrap the allocator of each domain that was there ------------- */

typedef struct {
    PyMemAllocatorEx previous;
    int source;
} hook_t;

static hook_t hooks[3];

static void *hook_malloc(void *ctx, size_t size) {
    hook_t *hook = ctx;
    if (entered) return hook->previous.malloc(hook->previous.ctx, size);
    entered = 1;
    void *ptr = hook->previous.malloc(hook->previous.ctx, size);
    if (ptr != NULL) record_alloc(hook->source, ptr, size);
    entered = 0;
    return ptr;
}

static void *hook_calloc(void *ctx, size_t nelem, size_t elsize) {
    hook_t *hook = ctx;
    if (entered) return hook->previous.calloc(hook->previous.ctx, nelem, elsize);
    entered = 1;
    void *ptr = hook->previous.calloc(hook->previous.ctx, nelem, elsize);
    if (ptr != NULL) record_alloc(hook->source, ptr, nelem * elsize);
    entered = 0;
    return ptr;
}

static void *hook_realloc(void *ctx, void *old, size_t size) {
    hook_t *hook = ctx;
    if (entered) return hook->previous.realloc(hook->previous.ctx, old, size);
    entered = 1;
    block_t block;
    int forgotten = realloc_begin(old, &block);
    /* PyMem's realloc never frees on a zero size: NULL is a failure, and the old block lives. */
    void *ptr = hook->previous.realloc(hook->previous.ctx, old, size);
    realloc_end(hook->source, forgotten, &block, ptr, size, ptr != NULL);
    entered = 0;
    return ptr;
}

static void hook_free(void *ctx, void *ptr) {
    hook_t *hook = ctx;
    if (entered || ptr == NULL) {
        hook->previous.free(hook->previous.ctx, ptr);
        return;
    }
    entered = 1;
    block_t block;
    int forgotten = free_begin(ptr, &block);
    hook->previous.free(hook->previous.ctx, ptr);
    free_end(hook->source, forgotten, &block);
    entered = 0;
}

/* ---- the C library: malloc and friends, for everything in the process ------------- */

#if INTERPOSES_LIBC
/* Whether a C-library call is the tracer's business: the hooks are installed, and the call
 * is not made from inside a hook (PyMem_RawMalloc's own malloc, the tables' growth). */
#define LIBC_UNTRACKED() (entered || !__atomic_load_n(&installed, __ATOMIC_RELAXED))

/* An allocation by ``call`` of ``size`` bytes, tracked. */
#define LIBC_ALLOCATE(call, size)                                \
    do {                                                         \
        if (LIBC_UNTRACKED()) return call;                       \
        entered = 1;                                             \
        void *ptr_ = call;                                       \
        if (ptr_ != NULL) record_alloc(FROM_LIBC, ptr_, (size)); \
        entered = 0;                                             \
        return ptr_;                                             \
    } while (0)

/* Set while sees_c_library() calls malloc through the process's own binding of it. */
static __thread int probing __attribute__((tls_model("initial-exec")));
static __thread int probed __attribute__((tls_model("initial-exec")));

static void *libc_malloc(size_t size) {
    if (probing) probed = 1;
    LIBC_ALLOCATE(__libc_malloc(size), size);
}

static void *libc_calloc(size_t nelem, size_t elsize) {
    size_t size;
    if (__builtin_mul_overflow(nelem, elsize, &size)) return __libc_calloc(nelem, elsize); /* fails */
    LIBC_ALLOCATE(__libc_calloc(nelem, elsize), size);
}

static void *libc_memalign(size_t alignment, size_t size) { LIBC_ALLOCATE(__libc_memalign(alignment, size), size); }

static void *libc_valloc(size_t size) { LIBC_ALLOCATE(__libc_valloc(size), size); }

static void *libc_pvalloc(size_t size) { LIBC_ALLOCATE(__libc_pvalloc(size), size); }

static void *libc_realloc(void *old, size_t size) {
    if (LIBC_UNTRACKED()) return __libc_realloc(old, size);
    entered = 1;
    block_t block;
    int forgotten = realloc_begin(old, &block);
    void *ptr = __libc_realloc(old, size);
    /* glibc frees the block on a zero size and returns NULL; otherwise NULL is a failure. */
    int freed = ptr != NULL || (size == 0 && old != NULL);
    realloc_end(FROM_LIBC, forgotten, &block, ptr, size, freed);
    entered = 0;
    return ptr;
}

static void *libc_reallocarray(void *old, size_t nelem, size_t elsize) {
    size_t size;
    if (__builtin_mul_overflow(nelem, elsize, &size)) {
        errno = ENOMEM;
        return NULL;
    }
    return libc_realloc(old, size);
}

static void libc_free(void *ptr) {
    if (ptr == NULL || LIBC_UNTRACKED()) {
        __libc_free(ptr);
        return;
    }
    entered = 1;
    block_t block;
    int forgotten = free_begin(ptr, &block);
    __libc_free(ptr);
    free_end(FROM_LIBC, forgotten, &block);
    entered = 0;
}

static int libc_posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment == 0 || alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *ptr = libc_memalign(alignment, size);
    if (ptr == NULL) return ENOMEM;
    *out = ptr;
    return 0;
}

static void *libc_aligned_alloc(size_t alignment, size_t size) { return libc_memalign(alignment, size); }

/* The public names: preloaded, they take the place of glibc's in every library; imported
 * the usual way (RTLD_LOCAL), they change nothing. */
#define INTERPOSE(name, impl) __typeof__(impl) name __attribute__((alias(#impl), visibility("default")))
INTERPOSE(malloc, libc_malloc);
INTERPOSE(calloc, libc_calloc);
INTERPOSE(realloc, libc_realloc);
INTERPOSE(reallocarray, libc_reallocarray);
INTERPOSE(free, libc_free);
INTERPOSE(posix_memalign, libc_posix_memalign);
INTERPOSE(aligned_alloc, libc_aligned_alloc);
INTERPOSE(memalign, libc_memalign);
INTERPOSE(valloc, libc_valloc);
INTERPOSE(pvalloc, libc_pvalloc);

/* Whether this object's malloc is the one the process calls (it was preloaded). The address
 * the loader hands out may be the executable's own entry for malloc (a non-PIE executable
 * that takes malloc's address), which jumps to ours: so a call through it is the test. */
static int libc_interposed(void) {
    void *(*process_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "malloc");
    if (process_malloc == NULL) return 0;
    if (process_malloc == libc_malloc) return 1;
    probing = 1;
    probed = 0;
    void *ptr = process_malloc(16);
    probing = 0;
    free(ptr); /* through the same binding, so that a tracked block leaves the table */
    return probed;
}
#else
static int libc_interposed(void) { return 0; }
#endif

/* ---- the module ------------------------------------------------------------------- */

/* Detach the tables under the lock (a thread may still be inside a hook it entered before
 * the allocators were restored), then let them go. */
static void release_tables(void) {
    lock();
    site_t *old_sites = sites;
    uint32_t old_len = sites_len;
    uint32_t *old_slots = site_slots;
    block_t *old_blocks = blocks;
    sites = NULL;
    site_slots = NULL;
    blocks = NULL;
    sites_len = sites_capacity = 0;
    window_open = 0;
    unlock();
#if HAS_FRAMES
    for (uint32_t id = 0; old_sites != NULL && id < old_len; id++) {
        for (uint32_t d = 0; d < old_sites[id].stack.depth; d++) Py_DECREF(old_sites[id].stack.code[d]);
    }
#else
    (void)old_len;
#endif
    own_free(old_sites);
    own_free(old_slots);
    own_free(old_blocks);
}

/* A full collection, whether or not the workload disabled the collector (PyGC_Collect alone
 * does nothing then); it makes no Python object. */
static void collect_garbage(void) {
    int was_enabled = PyGC_Enable();
    PyGC_Collect();
    if (!was_enabled) PyGC_Disable();
}

static PyObject *native_start(PyObject *module, PyObject *args) {
    int with_sites = 1;
    if (!PyArg_ParseTuple(args, "|p:start", &with_sites)) return NULL;
    if (installed) {
        PyErr_SetString(PyExc_RuntimeError, "the allocator hooks are installed already");
        return NULL;
    }
    sites_capacity = 1024;
    sites = own_calloc(sites_capacity, sizeof(site_t));
    site_slots = NULL;
    sites_len = 2; /* id 0: "<native>", no Python frame; id 1: "<gc>", the cyclic collector */
    /* Room for the live blocks of a small test: a bigger table is a cost to every measuring
     * copy (its pages zeroed, each a fault), and the table doubles whenever it fills. */
    if (sites == NULL || site_slots_rebuild(4096) != 0 || blocks_init(1u << 13) != 0) {
        release_tables();
        return PyErr_NoMemory();
    }
    sites_on = with_sites;
    memset(recent_site, 0, sizeof(recent_site)); /* NATIVE_SITE: empty */
    in_use_count = in_use_bytes = 0;
    window_id = 0;
    window_open = 0;
    memset(&window, 0, sizeof(window));
    static const int domains[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
    static const int sources[3] = {FROM_RAW, FROM_MEM, FROM_OBJ};
    suspended = 0;
    for (int i = 0; i < 3; i++) {
        hooks[i].source = sources[i];
        PyMem_GetAllocator(domains[i], &hooks[i].previous);
    }
    for (int i = 0; i < 3; i++) {
        PyMemAllocatorEx mine = {&hooks[i], hook_malloc, hook_calloc, hook_realloc, hook_free};
        PyMem_SetAllocator(domains[i], &mine);
    }
    installed = 1;
    Py_RETURN_NONE;
}

static int require_installed(void) {
    if (!installed) PyErr_SetString(PyExc_RuntimeError, "the allocator hooks are not installed");
    return installed;
}

static PyObject *native_begin(PyObject *module, PyObject *unused) {
    if (!require_installed()) return NULL;
    /* Garbage of before the window is not the window's: a full collection (which also
     * empties the free lists) first. PyGC_Collect makes no Python object. */
    collect_garbage();
    lock();
    window_id++;
    memset(&window, 0, sizeof(window));
    window.start_count = in_use_count;
    window.start_bytes = in_use_bytes;
    if (sites_on) {
        for (uint32_t id = 0; id < sites_len; id++) memset(&sites[id].figures, 0, sizeof(figures_t));
    }
    window_open = 1;
    unlock();
    Py_RETURN_NONE;
}

static PyObject *native_end(PyObject *module, PyObject *unused) {
    if (!require_installed()) return NULL;
    /* The caller may come suspended (its own work up to here is not the window's); the
     * collection is the workload's: cycles the window made and dropped count as freed, and
     * older memory they held leaves the window's net. */
    suspended = 0;
    collect_garbage();
    lock();
    window_open = 0;
    window.net_count = in_use_count - window.start_count;
    window.net_bytes = in_use_bytes - window.start_bytes;
    unlock();
    Py_RETURN_NONE;
}

static PyObject *native_totals(PyObject *module, PyObject *unused) {
    return Py_BuildValue("{sLsLsLsLsLsLsL}", "alloc_count", (long long)window.alloc_count, "alloc_bytes",
                         (long long)window.alloc_bytes, "kept_count", (long long)window.kept_count, "kept_bytes",
                         (long long)window.kept_bytes, "net_count", (long long)window.net_count, "net_bytes",
                         (long long)window.net_bytes, "peak_bytes", (long long)window.peak_bytes);
}

static PyObject *native_window_sites(PyObject *module, PyObject *unused) {
    PyObject *rows = PyList_New(0);
    if (rows == NULL || !sites_on || window_open) return rows;
    for (uint32_t id = 0; id < sites_len; id++) {
        const figures_t *f = &sites[id].figures;
        if (!(f->alloc_count || f->kept_count || f->older_freed_count || f->alloc_bytes || f->kept_bytes ||
              f->older_freed_bytes))
            continue;
        PyObject *row = Py_BuildValue("(ILLLLLL)", id, (long long)f->alloc_count, (long long)f->alloc_bytes,
                                      (long long)f->kept_count, (long long)f->kept_bytes,
                                      (long long)(f->kept_count - f->older_freed_count),
                                      (long long)(f->kept_bytes - f->older_freed_bytes));
        if (row == NULL || PyList_Append(rows, row) != 0) {
            Py_XDECREF(row);
            Py_DECREF(rows);
            return NULL;
        }
        Py_DECREF(row);
    }
    return rows;
}

static PyObject *native_site_stack(PyObject *module, PyObject *arg) {
    unsigned long id = PyLong_AsUnsignedLong(arg);
    if (id == (unsigned long)-1 && PyErr_Occurred()) return NULL;
    if (!require_installed()) return NULL;
    if (id >= sites_len) {
        PyErr_Format(PyExc_IndexError, "no site %lu", id);
        return NULL;
    }
    if (id == COLLECTOR_SITE) return Py_BuildValue("((sis))", "<gc>", 0, "<gc>");
    const stack_t_ *stack = &sites[id].stack;
    PyObject *frames = PyTuple_New(stack->depth);
    if (frames == NULL) return NULL;
#if HAS_FRAMES
    for (uint32_t d = 0; d < stack->depth; d++) {
        PyCodeObject *code = stack->code[d];
        int line = PyCode_Addr2Line(code, stack->instr[d] * (int)sizeof(_Py_CODEUNIT));
        PyObject *frame = Py_BuildValue("(OiO)", code->co_filename, line, code->co_name);
        if (frame == NULL) {
            Py_DECREF(frames);
            return NULL;
        }
        PyTuple_SET_ITEM(frames, d, frame);
    }
#endif
    return frames;
}

static PyObject *native_stop(PyObject *module, PyObject *unused) {
    if (!installed) Py_RETURN_NONE;
    static const int domains[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
    for (int i = 0; i < 3; i++) PyMem_SetAllocator(domains[i], &hooks[i].previous);
    installed = 0;
    release_tables();
    Py_RETURN_NONE;
}

static PyObject *native_suspend(PyObject *module, PyObject *unused) {
    suspended = 1;
    Py_RETURN_NONE;
}

static PyObject *native_resume(PyObject *module, PyObject *unused) {
    suspended = 0;
    Py_RETURN_NONE;
}

static PyObject *native_sees_c_library(PyObject *module, PyObject *unused) { return PyBool_FromLong(libc_interposed()); }

static PyMethodDef methods[] = {
    {"start", native_start, METH_VARARGS,
     "start(sites=True): install the hooks; from now on every block is tracked"},
    {"begin", native_begin, METH_NOARGS, "begin(): collect garbage, then open a window"},
    {"end", native_end, METH_NOARGS, "end(): resume this thread, collect garbage inside the window, then close it"},
    {"totals", native_totals, METH_NOARGS, "totals() -> dict: the figures of the last closed window"},
    {"window_sites", native_window_sites, METH_NOARGS,
     "window_sites() -> [(site, alloc_count, alloc_bytes, kept_count, kept_bytes, net_count, net_bytes)]"},
    {"site_stack", native_site_stack, METH_O, "site_stack(site) -> ((file, line, function), ...), innermost first"},
    {"stop", native_stop, METH_NOARGS, "stop(): restore the previous allocators and free the tables"},
    {"suspend", native_suspend, METH_NOARGS,
     "suspend(): until resume(), this thread's allocations are not tracked, nor its frees seen in the window"},
    {"resume", native_resume, METH_NOARGS, "resume(): track this thread's allocations again"},
    {"sees_c_library", native_sees_c_library, METH_NOARGS,
     "sees_c_library() -> bool: whether the C library's malloc of this process is this module's (preloaded)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "harness._native", "Exact allocation counts from allocator hooks.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) return NULL;
    if (PyModule_AddIntConstant(module, "HAS_FRAMES", HAS_FRAMES) != 0 ||
        PyModule_AddStringConstant(module, "FRAME_READER", FRAME_READER) != 0 ||
        PyModule_AddIntConstant(module, "INTERPOSES_LIBC", INTERPOSES_LIBC) != 0 ||
        PyModule_AddIntConstant(module, "MAX_DEPTH", MAX_DEPTH) != 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
