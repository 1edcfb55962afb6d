/* The pages a zygote's copy writes, written again ahead by the next copy.
 *
 * A copy shares its zygote's memory until it writes to it: then the kernel copies the page it
 * writes. A test's protocol writes to a couple of thousand of its zygote's pages (mostly
 * reference counts of pytest's objects and code), and a copy's test waits for each of those
 * copies. The pages are much the same from one test of a file to the next. So a copy, once it
 * has said how it leaves, lists the pages it holds alone that were its zygote's
 * (/proc/self/pagemap: present and mapped once); and a copy forked ahead, while it waits for
 * its request, writes each page of the latest such list back with the byte already there. It
 * changes no byte: the kernel copies the page then, while another copy's test runs, rather
 * than during its own test.
 *
 * Only writable private mappings the copy had when it was forked are listed and touched, so a
 * page of the list that the waiting copy does not have is passed over. Everything here is an
 * optimisation: whatever fails (no pagemap, an old kernel that does not say which pages are
 * mapped once, no list yet), the copy goes on without it.
 */
#include "_pages.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int harness_write_all(int fd, const void *data, size_t size) {
    const char *at = data;
    while (size > 0) {
        ssize_t wrote = write(fd, at, size);
        if (wrote < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        at += wrote;
        size -= (size_t)wrote;
    }
    return 0;
}

#ifdef __linux__

#define MAX_RANGES 8192
#define CHUNK 512
/* At most this many pages listed (64 MiB of 4 KiB pages; a test of pytest's usually writes
 * 1,000-3,000): a test that rewrites a large structure of its zygote's would otherwise have
 * every later copy hold a copy of it while it waits. */
#define MAX_LISTED 16384
#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_EXCLUSIVE (1ULL << 56)

typedef struct {
    uint64_t first; /* page numbers: [first, end) */
    uint64_t end;
} Range;

static Range writable[MAX_RANGES];
static int writable_count = -1; /* not read yet */
static char list_path[4096];
static int listing;
static uint64_t page_size;

/* One line of /proc/self/maps: keep it if it is writable and private. */
static void keep_mapping(const char *line) {
    unsigned long start, end;
    char perms[5];
    if (writable_count >= MAX_RANGES || sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3)
        return;
    if (perms[1] != 'w' || perms[3] != 'p')
        return;
    writable[writable_count].first = start / page_size;
    writable[writable_count].end = end / page_size;
    writable_count++;
}

/* The writable private mappings, read with no allocation (the copy's heap stays as forked). */
static int read_writable(void) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char chunk[8192], line[512];
    size_t used = 0;
    int dropping = 0; /* the rest of a line too long for `line` (its path): not needed */
    writable_count = 0;
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0 || (got < 0 && errno == EINTR)) {
        for (ssize_t i = 0; i < got; i++) {
            if (chunk[i] == '\n') {
                line[used] = '\0';
                keep_mapping(line);
                used = 0;
                dropping = 0;
            } else if (!dropping) {
                line[used++] = chunk[i];
                dropping = used == sizeof line - 1;
            }
        }
    }
    close(fd);
    return got < 0 ? -1 : 0;
}

/* Whether `page` is in one of the mappings (which /proc/self/maps lists in order). */
static int writable_holds(uint64_t page) {
    int low = 0, high = writable_count;
    while (low < high) {
        int middle = low + (high - low) / 2;
        if (page < writable[middle].first)
            high = middle;
        else if (page >= writable[middle].end)
            low = middle + 1;
        else
            return 1;
    }
    return 0;
}

void pages_touch_ahead(const char *path, int list) {
    page_size = (uint64_t)sysconf(_SC_PAGESIZE);
    if (strlen(path) >= sizeof list_path || read_writable() < 0) {
        writable_count = -1;
        return;
    }
    strcpy(list_path, path);
    listing = list;
    if (list)
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return; /* no copy has listed its pages yet */
    uint64_t pages[CHUNK];
    ssize_t got;
    while ((got = read(fd, pages, sizeof pages)) > 0) {
        for (size_t i = 0; i < (size_t)got / sizeof pages[0]; i++) {
            if (!writable_holds(pages[i]))
                continue;
            volatile unsigned char *byte = (volatile unsigned char *)(uintptr_t)(pages[i] * page_size);
            *byte = *byte;
        }
    }
    close(fd);
}

/* The pages of `range` this copy holds alone, appended to `out`; *room is how many more may be. */
static int list_range(int pagemap, const Range *range, int out, size_t *room) {
    uint64_t entries[CHUNK], listed[CHUNK];
    for (uint64_t first = range->first; first < range->end && *room > 0; first += CHUNK) {
        uint64_t count = range->end - first < CHUNK ? range->end - first : CHUNK;
        ssize_t got = pread(pagemap, entries, count * sizeof entries[0], (off_t)(first * sizeof entries[0]));
        if (got < 0)
            return -1;
        size_t kept = 0;
        for (size_t i = 0; i < (size_t)got / sizeof entries[0] && kept < *room; i++)
            if ((entries[i] & PAGEMAP_PRESENT) && (entries[i] & PAGEMAP_EXCLUSIVE))
                listed[kept++] = first + i;
        *room -= kept;
        if (harness_write_all(out, listed, kept * sizeof listed[0]) < 0)
            return -1;
    }
    return 0;
}

void pages_list_written(void) {
    if (!listing || writable_count <= 0)
        return;
    char partial[sizeof list_path + 32];
    if (snprintf(partial, sizeof partial, "%s.%ld", list_path, (long)getpid()) >= (int)sizeof partial)
        return;
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0)
        return;
    int out = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int failed = out < 0;
    size_t room = MAX_LISTED;
    for (int i = 0; !failed && i < writable_count; i++)
        failed = list_range(pagemap, &writable[i], out, &room) < 0;
    close(pagemap);
    if (out >= 0)
        close(out);
    if (failed || rename(partial, list_path) < 0)
        unlink(partial);
}

#else

void pages_touch_ahead(const char *path, int list) {
    (void)path;
    (void)list;
}

void pages_list_written(void) {}

#endif
