/* The pages a zygote's copy writes, written again ahead by the next copy (see _pages.c). */
#ifndef HARNESS_PAGES_H
#define HARNESS_PAGES_H

#include <stddef.h>

/* One copy in so many lists the pages it wrote, and writes none ahead (so that its list holds
 * what a test wrote, not what the list before it named); the others write them ahead. */
#define PAGES_LISTED_EVERY 16

/* In a copy forked ahead, before it waits for its request: note its writable private
 * mappings; then, unless it is to `list` the pages it writes, write again each page of them
 * that the list at `path` names. */
void pages_touch_ahead(const char *path, int list);

/* In a copy that has said how it leaves, if it was to list: list at the path given to
 * pages_touch_ahead() the pages of those mappings it holds alone (written since it was forked). */
void pages_list_written(void);

/* Write all of `data` to `fd`, through interruptions: 0, or -1 with errno set. */
int harness_write_all(int fd, const void *data, size_t size);

#endif
