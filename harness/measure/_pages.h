/* The pages a zygote's copy writes, written again ahead by the next copy (see _pages.c). */
#ifndef HARNESS_PAGES_H
#define HARNESS_PAGES_H

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

#endif
