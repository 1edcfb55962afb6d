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
 * tests among workers). Here the zygote forks, waits and replies without touching the Python
 * heap; the copy reads the request itself.
 *
 * The copy for the next request is forked ahead: while the copy before it runs (or, without
 * `fork_ahead`, as soon as it has ended), so that the fork and the copy's own start are done by
 * the time the request comes. It waits in take_request() until a request is there, and reads no
 * more than its one line, so it never runs beside another copy's test: it starts the test only
 * once the copy before it has read its own request, and the session sends a request only when
 * the one before it is answered. A copy tells the zygote on a pipe of its own when it has read
 * its request ('s', which starts its clock) and, as it leaves, its exit code (one byte): the
 * zygote replies then, while the kernel still takes the copy's memory down. While it waits, a
 * copy forked ahead also writes again the pages of the zygote's that a copy before it wrote,
 * so that the kernel copies them then, not during its test (_pages.c).
 *
 * serve(requests, replies, timeout_s, (stderr_path_0, stderr_path_1), fork_ahead) returns, in a
 * copy, the descriptor of its pipe to the zygote; and None in the zygote once the parent has
 * closed `requests`. For each request, the zygote writes one line to `replies`: how the copy
 * ended, as JSON (harness.measure.launcher.Ended, and "stderr_file", the name of the file its
 * stderr is in: the two alternate, so that a copy forked ahead never truncates the one the
 * parent is about to read). A copy that runs past `timeout_s` is killed with its group.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "_pages.h"

/* What a copy sends on its pipe once it has read its request. */
#define STARTED 's'

/* One forked copy, seen from the zygote. */
typedef struct {
    pid_t pid;
    int notify; /* the read end of the copy's pipe to the zygote */
    int pidfd;  /* readable once the copy has exited; -1 where the kernel has none */
    int stderr_index;
} Copy;

/* The copies forked and not yet reaped, which a zygote told to stop kills first: the one being
 * waited for, the one forked ahead, and those leaving. */
#define TRACKED 64
static pid_t tracked[TRACKED];

static void track(pid_t pid) {
    for (int i = 0; i < TRACKED; i++)
        if (tracked[i] == 0) {
            tracked[i] = pid;
            return;
        }
}

static void untrack(pid_t pid) {
    for (int i = 0; i < TRACKED; i++)
        if (tracked[i] == pid)
            tracked[i] = 0;
}

/* Copies that said they are leaving, not yet reaped. */
static pid_t leaving[TRACKED];

static void reap_left(int block) {
    for (int i = 0; i < TRACKED; i++) {
        if (leaving[i] == 0)
            continue;
        int status;
        pid_t done;
        while ((done = waitpid(leaving[i], &status, block ? 0 : WNOHANG)) < 0 && errno == EINTR) {
        }
        if (done != 0) { /* reaped, or not ours any more */
            untrack(leaving[i]);
            leaving[i] = 0;
        }
    }
}

static void leave(pid_t pid) {
    for (int attempt = 0; attempt < 2; attempt++) {
        for (int i = 0; i < TRACKED; i++)
            if (leaving[i] == 0) {
                leaving[i] = pid;
                return;
            }
        reap_left(1);
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int pidfd_for(pid_t pid) {
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
#else
    (void)pid;
    return -1;
#endif
}

static void close_copy(Copy *copy) {
    if (copy->notify >= 0)
        close(copy->notify);
    if (copy->pidfd >= 0)
        close(copy->pidfd);
    copy->notify = copy->pidfd = -1;
}

/* Fork a copy whose stderr is `stderr_path`: 1 in the copy (its end of the pipe in *notify),
 * 0 in the zygote (the copy in *made), -1 with an exception set. The copy closes what it
 * inherited of `running`, the copy forked before it. */
/* The file zygotes a mother has forked and not yet reaped (see serve_files). */
static Copy born[TRACKED];

/* How many copies this zygote forked before; in a copy, how many were forked before it. */
static unsigned long forked_before;

static int fork_copy(const char *stderr_path, int stderr_index, Copy *running, Copy *made, int *notify) {
    int err = stderr_path != NULL ? open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -2;
    if (err == -1) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, stderr_path);
        return -1;
    }
    int pipe_fds[2];
    if (pipe(pipe_fds) < 0) {
        if (err >= 0)
            close(err);
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    fcntl(pipe_fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(pipe_fds[1], F_SETFD, FD_CLOEXEC);
    pid_t zygote = getpid();
    PyOS_BeforeFork();
    pid_t pid = fork();
    if (pid == 0) {
        PyOS_AfterFork_Child();
        setpgid(0, 0);
#ifdef __linux__
        /* A copy forked ahead waits for a request that may never come: it goes with its zygote. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != zygote)
            _exit(1);
#endif
        if (err >= 0) {
            dup2(err, 2);
            close(err);
        }
        close(pipe_fds[0]);
        if (running != NULL)
            close_copy(running);
        for (int i = 0; i < TRACKED; i++)
            if (born[i].pid != 0)
                close_copy(&born[i]);
        memset(born, 0, sizeof born);
        memset(tracked, 0, sizeof tracked);
        memset(leaving, 0, sizeof leaving);
        *notify = pipe_fds[1];
        return 1;
    }
    PyOS_AfterFork_Parent();
    forked_before++;
    if (err >= 0)
        close(err);
    close(pipe_fds[1]);
    if (pid < 0) {
        close(pipe_fds[0]);
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    setpgid(pid, pid); /* on both sides, so that the group exists whichever runs first */
    track(pid);
    made->pid = pid;
    made->notify = pipe_fds[0];
    made->pidfd = pidfd_for(pid);
    made->stderr_index = stderr_index;
    return 0;
}

enum { EVENT_ERROR = -1, EVENT_TIMEOUT = 0, EVENT_BYTE = 1, EVENT_EXITED = 2 };

/* Whether `pid` has exited (without reaping it): where the kernel has no pidfd. */
static int exited_already(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

/* Wait for `copy` to send a byte (EVENT_BYTE, in *byte) or to exit (EVENT_EXITED; not reaped),
 * until `deadline` (< 0: none). Signals that arrive meanwhile run their Python handlers (a
 * SIGTERM's kills the copies and exits); EVENT_ERROR if one raised. */
static int wait_event(Copy *copy, double deadline, char *byte) {
    int closed = 0; /* the copy's pipe is at its end: only its exit is left to see */
    for (;;) {
        int wait_ms = -1;
        if (deadline >= 0) {
            double left = deadline - now_s();
            if (left <= 0)
                return EVENT_TIMEOUT;
            wait_ms = (int)(left * 1000.0) + 1;
        }
        if (copy->pidfd < 0 && (wait_ms < 0 || wait_ms > 10))
            wait_ms = 10; /* no pidfd: look for the copy's end every 10 ms */
        /* A descriptor of -1 is left out of the poll. */
        struct pollfd watched[2] = {{closed ? -1 : copy->notify, POLLIN, 0}, {copy->pidfd, POLLIN, 0}};
        if (poll(watched, 2, wait_ms) < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    return EVENT_ERROR;
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            return EVENT_ERROR;
        }
        if (watched[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t got = read(copy->notify, byte, 1);
            if (got == 1)
                return EVENT_BYTE;
            if (got < 0 && errno == EINTR)
                continue;
            closed = 1;
        }
        if (watched[1].revents & POLLIN)
            return EVENT_EXITED;
        if (copy->pidfd < 0 && exited_already(copy->pid))
            return EVENT_EXITED;
    }
}

static int reap(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    untrack(pid);
    return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

static int reply(int replies, int code, int timed_out, double timeout_s, const char *stderr_path) {
    const char *slash = strrchr(stderr_path, '/');
    const char *name = slash != NULL ? slash + 1 : stderr_path;
    char line[512];
    int size = snprintf(line, sizeof line,
                        "{\"returncode\": %d, \"stderr\": \"\", \"timed_out\": %s, \"timeout_s\": %.17g, "
                        "\"killed_at_resident\": null, \"stderr_file\": \"%s\"}\n",
                        code, timed_out ? "true" : "false", timeout_s, name);
    if (size < 0 || (size_t)size >= sizeof line) {
        PyErr_SetString(PyExc_ValueError, "stderr file name too long");
        return -1;
    }
    if (harness_write_all(replies, line, (size_t)size) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

/* Wait for `copy`, which has just read its request, to end: its code, and whether it was
 * killed for time. */
static int wait_end(Copy *copy, double timeout_s, int *code, int *timed_out) {
    char byte = 0;
    int event = wait_event(copy, now_s() + timeout_s, &byte);
    *timed_out = 0;
    if (event == EVENT_ERROR)
        return -1;
    if (event == EVENT_BYTE) {
        *code = (unsigned char)byte; /* it is leaving: reaped later, off the session's path */
        leave(copy->pid);
    } else if (event == EVENT_EXITED) {
        *code = reap(copy->pid);
    } else {
        kill(-copy->pid, SIGKILL);
        kill(copy->pid, SIGKILL);
        *code = reap(copy->pid);
        *timed_out = 1;
    }
    close_copy(copy);
    return 0;
}

/* A mother: a pytest session of a test directory that has not collected, and forks a zygote
 * for each test file the session asks for (the zygote then collects its file, and serves its
 * copies with serve()). Every file's zygote starts from the mother's state, as every copy
 * starts from its zygote's; the mother runs no Python between two forks either.
 *
 * serve_files(requests, replies) returns, in a forked zygote, its descriptor to the mother
 * (the zygote then calls take_file()); and None in the mother once the session has closed
 * `requests` (a Unix socket: each request carries the zygote's descriptors). The mother
 * writes a line to `replies` for each zygote, {"started": PID}, in the order of the requests,
 * and one when it ends, {"ended": PID, "returncode": CODE}. */
static int reply_text(int replies, const char *format, long first, long second) {
    char line[128];
    int size = snprintf(line, sizeof line, format, first, second);
    if (harness_write_all(replies, line, (size_t)size) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

static int keep_born(Copy *copy) {
    for (int i = 0; i < TRACKED; i++)
        if (born[i].pid == 0) {
            born[i] = *copy;
            return 0;
        }
    PyErr_SetString(PyExc_RuntimeError, "too many zygotes at once");
    return -1;
}

/* Reap the zygotes that have ended, and say so. */
static int reap_born(int replies, struct pollfd *watched, int count) {
    for (int i = 0; i < count; i++) {
        if (!(watched[i].revents & POLLIN))
            continue;
        for (int j = 0; j < TRACKED; j++) {
            if (born[j].pid == 0 || born[j].pidfd != watched[i].fd)
                continue;
            pid_t pid = born[j].pid;
            int code = reap(pid);
            close_copy(&born[j]);
            born[j].pid = 0;
            if (reply_text(replies, "{\"ended\": %ld, \"returncode\": %ld}\n", (long)pid, (long)code) < 0)
                return -1;
        }
    }
    return 0;
}

static PyObject *forkserver_serve_files(PyObject *module, PyObject *args) {
    int requests, replies;
    if (!PyArg_ParseTuple(args, "ii", &requests, &replies))
        return NULL;
    Copy idle = {0, -1, -1, 0};
    int notify = -1;
    int forked = fork_copy(NULL, 0, NULL, &idle, &notify);
    if (forked != 0)
        return forked > 0 ? PyLong_FromLong(notify) : NULL;
    for (;;) {
        if (idle.pidfd < 0) {
            PyErr_SetString(PyExc_OSError, "no pidfd: a mother needs Linux 5.3 or later");
            return NULL;
        }
        struct pollfd watched[2 + TRACKED];
        int count = 0;
        watched[count++] = (struct pollfd){idle.notify, POLLIN, 0};
        watched[count++] = (struct pollfd){idle.pidfd, POLLIN, 0};
        for (int i = 0; i < TRACKED; i++)
            if (born[i].pid != 0)
                watched[count++] = (struct pollfd){born[i].pidfd, POLLIN, 0};
        if (poll(watched, (nfds_t)count, -1) < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    return NULL;
                continue;
            }
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (reap_born(replies, watched + 2, count - 2) < 0)
            return NULL;
        char byte = 0;
        ssize_t got = 0;
        if (watched[0].revents & (POLLIN | POLLHUP))
            got = read(idle.notify, &byte, 1);
        if (got == 1 && byte == STARTED) {
            if (reply_text(replies, "{\"started\": %ld}\n", (long)idle.pid, 0) < 0)
                return NULL;
            close(idle.notify);
            idle.notify = -1;
            if (keep_born(&idle) < 0)
                return NULL;
            forked = fork_copy(NULL, 0, NULL, &idle, &notify);
            if (forked != 0)
                return forked > 0 ? PyLong_FromLong(notify) : NULL;
        } else if ((got == 0 && (watched[0].revents & POLLHUP)) || (watched[1].revents & POLLIN)) {
            /* It ended without a request: there will be none. The zygotes go with the mother. */
            int code = reap(idle.pid);
            close_copy(&idle);
            if (code == 0)
                Py_RETURN_NONE;
            return PyErr_Format(PyExc_RuntimeError, "a zygote ended with code %d before it read a request", code);
        }
    }
}

/* In a zygote a mother forked: wait for the file to collect, with the descriptors that come
 * with it; tell the mother; return (the request, [descriptors]). At the end of the requests,
 * leave at once, with code 0. */
#define MOST_FDS 8
static PyObject *forkserver_take_file(PyObject *module, PyObject *args) {
    int requests, notify;
    if (!PyArg_ParseTuple(args, "ii", &requests, &notify))
        return NULL;
    static char text[65536];
    char control[CMSG_SPACE(sizeof(int) * MOST_FDS)];
    struct iovec part = {text, sizeof text};
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t got;
    while ((got = recvmsg(requests, &message, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
    if (got == 0)
        _exit(0); /* no file will come */
    if (got < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    PyObject *fds = PyList_New(0);
    if (fds == NULL)
        return NULL;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS)
            continue;
        size_t passed = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *numbers = (int *)CMSG_DATA(header);
        for (size_t i = 0; i < passed; i++) {
            PyObject *number = PyLong_FromLong(numbers[i]);
            if (number == NULL || PyList_Append(fds, number) < 0) {
                Py_XDECREF(number);
                Py_DECREF(fds);
                return NULL;
            }
            Py_DECREF(number);
        }
    }
    char started = STARTED;
    if (harness_write_all(notify, &started, 1) < 0) {
        Py_DECREF(fds);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    close(notify);
    return Py_BuildValue("(s#N)", text, (Py_ssize_t)got, fds);
}

static PyObject *forkserver_serve(PyObject *module, PyObject *args) {
    int requests, replies, fork_ahead;
    double timeout_s;
    const char *paths[2];
    if (!PyArg_ParseTuple(args, "iid(ss)p", &requests, &replies, &timeout_s, &paths[0], &paths[1], &fork_ahead))
        return NULL;
    Copy next = {0, -1, -1, 0};
    int notify = -1;
    int forked = fork_copy(paths[0], 0, NULL, &next, &notify);
    if (forked != 0)
        return forked > 0 ? PyLong_FromLong(notify) : NULL;
    for (;;) {
        Copy copy = next;
        char byte = 0;
        int event = wait_event(&copy, -1.0, &byte);
        if (event == EVENT_ERROR)
            return NULL;
        if (event != EVENT_BYTE || byte != STARTED) {
            /* It ended without a request: there will be none (or it could not wait for one). */
            int code = reap(copy.pid);
            if (event == EVENT_BYTE)
                code = (unsigned char)byte; /* the code it said it leaves with */
            close_copy(&copy);
            reap_left(1);
            if (code == 0)
                Py_RETURN_NONE;
            return PyErr_Format(PyExc_RuntimeError, "a copy ended with code %d before it read a request", code);
        }
        int index = 1 - copy.stderr_index;
        if (fork_ahead) {
            forked = fork_copy(paths[index], index, &copy, &next, &notify);
            if (forked != 0)
                return forked > 0 ? PyLong_FromLong(notify) : NULL;
        }
        int code = 0, timed_out = 0;
        if (wait_end(&copy, timeout_s, &code, &timed_out) < 0)
            return NULL;
        if (reply(replies, code, timed_out, timeout_s, paths[copy.stderr_index]) < 0)
            return NULL;
        reap_left(0);
        if (!fork_ahead) {
            forked = fork_copy(paths[index], index, NULL, &next, &notify);
            if (forked != 0)
                return forked > 0 ? PyLong_FromLong(notify) : NULL;
        }
    }
}

/* In a copy: wait for a request, read its one line (no further: the rest is the next copy's),
 * tell the zygote, and return it. At the end of the requests, leave at once, with code 0. */
static PyObject *forkserver_take_request(PyObject *module, PyObject *args) {
    int requests, notify;
    const char *pages = NULL;
    if (!PyArg_ParseTuple(args, "ii|z", &requests, &notify, &pages))
        return NULL;
    if (pages != NULL)
        pages_touch_ahead(pages, forked_before % PAGES_LISTED_EVERY == 0);
    size_t size = 0, capacity = 256;
    char *line = malloc(capacity);
    if (line == NULL)
        return PyErr_NoMemory();
    for (;;) {
        char byte;
        ssize_t got = read(requests, &byte, 1);
        if (got < 0 && errno == EINTR) {
            if (PyErr_CheckSignals() < 0) {
                free(line);
                return NULL;
            }
            continue;
        }
        if (got <= 0) {
            if (size == 0)
                _exit(0); /* no request will come */
            break;
        }
        if (byte == '\n')
            break;
        if (size + 1 >= capacity) {
            char *grown = realloc(line, capacity * 2);
            if (grown == NULL) {
                free(line);
                return PyErr_NoMemory();
            }
            line = grown;
            capacity *= 2;
        }
        line[size++] = byte;
    }
    char started = STARTED;
    if (harness_write_all(notify, &started, 1) < 0) {
        free(line);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *text = PyUnicode_DecodeUTF8(line, (Py_ssize_t)size, "strict");
    free(line);
    return text;
}

static PyObject *forkserver_serving(PyObject *module, PyObject *unused) {
    PyObject *pids = PyList_New(0);
    if (pids == NULL)
        return NULL;
    for (int i = 0; i < TRACKED; i++) {
        if (tracked[i] == 0)
            continue;
        PyObject *pid = PyLong_FromLong((long)tracked[i]);
        if (pid == NULL || PyList_Append(pids, pid) < 0) {
            Py_XDECREF(pid);
            Py_DECREF(pids);
            return NULL;
        }
        Py_DECREF(pid);
    }
    return pids;
}

/* In a copy that has said how it leaves: list the pages it wrote, for the copies after it. */
static PyObject *forkserver_list_written(PyObject *module, PyObject *unused) {
    pages_list_written();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"serve", forkserver_serve, METH_VARARGS,
     "serve(requests, replies, timeout_s, stderr_paths, fork_ahead) -> int | None: in a copy, its "
     "descriptor to the zygote; None in the zygote when no request will come"},
    {"take_request", forkserver_take_request, METH_VARARGS,
     "take_request(requests, notify, pages=None) -> str: in a copy, its request (it leaves if none will come); "
     "first, it writes again the pages the list at `pages` names (see _pages.c)"},
    {"list_written", forkserver_list_written, METH_NOARGS,
     "list_written() -> None: in a copy that has said how it leaves, list the pages it wrote at the `pages` "
     "path of take_request"},
    {"serve_files", forkserver_serve_files, METH_VARARGS,
     "serve_files(requests, replies) -> int | None: in a file's zygote, its descriptor to the mother; None in the "
     "mother when no file will come"},
    {"take_file", forkserver_take_file, METH_VARARGS,
     "take_file(requests, notify) -> (str, list[int]): in a file's zygote, its request and descriptors"},
    {"serving", forkserver_serving, METH_NOARGS, "serving() -> list[int]: the pids of the copies not yet reaped"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_forkserver",
                                        "A zygote's serving loop, which runs no Python between two forks.", -1,
                                        methods};

PyMODINIT_FUNC PyInit__forkserver(void) { return PyModule_Create(&module_def); }
