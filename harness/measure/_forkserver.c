/* The serving loop of a pytest plugin's zygote, in C, so that the zygote runs no Python between
 * two forks.
 *
 * A zygote forks one copy per test it is asked to measure, and every copy must start from the
 * same heap: a window's peak depends, through CPython's type attribute cache, on where the
 * strings the test makes happen to live. A serving loop written in Python allocates and frees
 * a few objects per request (the reply, the JSON encoder's state, a file object), and even when
 * it frees all it made, the order of the frees reorders the allocator's free lists: the next
 * copy's objects land elsewhere, and what a test reads would depend on how many tests its
 * zygote served before it (under -k, in another order, or under xdist, which shares a file's
 * tests among workers). Here the zygote waits for a request, forks, waits for the copy and
 * replies without touching the Python heap; the copy reads the request itself.
 *
 * serve(requests, replies, timeout_s, stderr_path) returns True in a copy, with a request
 * waiting on `requests`, its stderr written to `stderr_path` and its own process group; and
 * False in the zygote once the parent has closed `requests`. In between, for each request, the
 * zygote writes one line to `replies`: how the copy ended, as JSON (harness.measure.launcher.
 * Ended), its stderr left in the file for the parent to read. A copy that runs past `timeout_s`
 * is killed with its group.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The copy being waited for (0: none), which a zygote told to stop kills first. */
static pid_t serving_pid = 0;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Wait for `pid` up to `timeout_s`: 1 if it was killed for time. Signals that arrive meanwhile
 * run their Python handlers (a SIGTERM's kills the copy and exits); -1 if one raised. */
static int wait_for(pid_t pid, double timeout_s, int *status) {
    double deadline = now_s() + timeout_s;
    for (;;) {
        pid_t done = waitpid(pid, status, WNOHANG);
        if (done == pid)
            return 0;
        if (done < 0 && errno != EINTR)
            return 0;
        if (now_s() >= deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
            }
            return 1;
        }
        struct timespec tick = {0, 1000000}; /* 1 ms: a copy takes milliseconds at least */
        if (nanosleep(&tick, NULL) < 0 && errno == EINTR && PyErr_CheckSignals() < 0)
            return -1;
    }
}

static int write_all(int fd, const char *data, size_t size) {
    while (size > 0) {
        ssize_t wrote = write(fd, data, size);
        if (wrote < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += wrote;
        size -= (size_t)wrote;
    }
    return 0;
}

/* Block until a request is there (1) or the pipe is closed (0); -1 with an exception set. */
static int next_request(int requests) {
    for (;;) {
        struct pollfd ready = {requests, POLLIN, 0};
        if (poll(&ready, 1, -1) < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    return -1;
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        int waiting = 0;
        if (ioctl(requests, FIONREAD, &waiting) < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        return waiting > 0;
    }
}

static PyObject *forkserver_serve(PyObject *module, PyObject *args) {
    int requests, replies;
    double timeout_s;
    const char *stderr_path;
    if (!PyArg_ParseTuple(args, "iids", &requests, &replies, &timeout_s, &stderr_path))
        return NULL;
    for (;;) {
        int more = next_request(requests);
        if (more < 0)
            return NULL;
        if (more == 0)
            Py_RETURN_FALSE;
        int err = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (err < 0)
            return PyErr_SetFromErrnoWithFilename(PyExc_OSError, stderr_path);
        PyOS_BeforeFork();
        pid_t pid = fork();
        if (pid == 0) {
            PyOS_AfterFork_Child();
            setpgid(0, 0);
            dup2(err, 2);
            close(err);
            Py_RETURN_TRUE;
        }
        PyOS_AfterFork_Parent();
        close(err);
        if (pid < 0)
            return PyErr_SetFromErrno(PyExc_OSError);
        setpgid(pid, pid); /* on both sides, so that the group exists whichever runs first */
        serving_pid = pid;
        int status = 0;
        int timed_out = wait_for(pid, timeout_s, &status);
        serving_pid = 0;
        if (timed_out < 0)
            return NULL;
        int code = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
        char line[200];
        int size = snprintf(line, sizeof line,
                            "{\"returncode\": %d, \"stderr\": \"\", \"timed_out\": %s, \"timeout_s\": %.17g, "
                            "\"killed_at_resident\": null}\n",
                            code, timed_out ? "true" : "false", timeout_s);
        if (write_all(replies, line, (size_t)size) < 0)
            return PyErr_SetFromErrno(PyExc_OSError);
    }
}

static PyObject *forkserver_serving(PyObject *module, PyObject *unused) { return PyLong_FromLong((long)serving_pid); }

static PyMethodDef methods[] = {
    {"serve", forkserver_serve, METH_VARARGS,
     "serve(requests, replies, timeout_s, stderr_path) -> bool: True in a copy, False when no request will come"},
    {"serving", forkserver_serving, METH_NOARGS, "serving() -> int: the pid of the copy being waited for, or 0"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_forkserver",
                                        "A zygote's serving loop, which runs no Python between two forks.", -1,
                                        methods};

PyMODINIT_FUNC PyInit__forkserver(void) { return PyModule_Create(&module_def); }
