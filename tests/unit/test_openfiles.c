/* test_openfiles.c - the mount's table of open files (fuse/openfiles.h): who
 * purges after an unlink of an open file, and an open that waits for the
 * unlinks already in flight that kept nothing. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../fuse/openfiles.h"
#include "../test.h"

static void test_keep_and_purge(void)
{
    struct openfiles *t = openfiles_new();
    struct openfiles_plain p;
    REQUIRE(t);
    CHECK(openfiles_unlink_fast(t, &p));   /* nothing open: plain */
    openfiles_unlink_plain_end(t, &p);
    CHECK_EQ(openfiles_open(t, 7), 0);
    CHECK(!openfiles_unlink_fast(t, &p));
    CHECK(openfiles_unlink_begin(t, 7, &p));        /* open: keep it */
    CHECK(!openfiles_unlink_end(t, 7));         /* still open: no purge yet */
    CHECK(openfiles_release(t, 7));             /* the last close purges */
    CHECK_EQ(openfiles_open(t, 8), 0);
    CHECK(openfiles_unlink_begin(t, 8, &p));
    CHECK(!openfiles_release(t, 8));            /* the unlink is in flight: it decides */
    CHECK(openfiles_unlink_end(t, 8));
    CHECK_EQ(openfiles_open(t, 9), 0);
    CHECK(!openfiles_unlink_begin(t, 10, &p));      /* another inode: plain */
    openfiles_unlink_plain_end(t, &p);
    CHECK(!openfiles_release(t, 9));            /* never unlinked: nothing to purge */
    CHECK(openfiles_unlink_fast(t, &p));            /* empty again */
    openfiles_unlink_plain_end(t, &p);
    openfiles_free(t);
}

struct opener {
    struct openfiles *t;
    atomic_int returned;
};

static void *do_open(void *arg)
{
    struct opener *o = arg;
    openfiles_open(o->t, 42);
    atomic_store(&o->returned, 1);
    return NULL;
}

/* An open counted while a plain unlink is in flight waits for that unlink. */
static void test_open_waits_for_plain_unlink(void)
{
    struct openfiles *t = openfiles_new();
    struct openfiles_plain p, later, p2;
    REQUIRE(t);
    CHECK(openfiles_unlink_fast(t, &p));   /* a plain unlink is in flight */
    struct opener o = { .t = t };
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, do_open, &o) == 0);
    /* Once the open is counted, a new unlink is no longer plain ... */
    int counted = 0;
    for (double end = bfs_mono_s() + 5; !counted && bfs_mono_s() < end;) {
        counted = !openfiles_unlink_fast(t, &later);
        if (!counted)
            openfiles_unlink_plain_end(t, &later);
    }
    CHECK(counted);
    /* ... and the open still waits: the first plain unlink is not answered. */
    CHECK_EQ(atomic_load(&o.returned), 0);
    CHECK(!openfiles_unlink_begin(t, 43, &later));   /* a later plain unlink ... */
    CHECK(openfiles_unlink_begin(t, 42, &p2));   /* this one keeps the opened file */
    openfiles_unlink_plain_end(t, &p);          /* the first unlink is answered: */
    pthread_join(th, NULL);                     /* ... the open does not wait for the later one */
    openfiles_unlink_plain_end(t, &later);
    CHECK_EQ(atomic_load(&o.returned), 1);
    CHECK(!openfiles_unlink_end(t, 42));
    CHECK(openfiles_release(t, 42));
    openfiles_free(t);
}

int main(void)
{
    alarm(10);   /* an open that waits wrongly would wait forever */
    RUN(test_keep_and_purge);
    RUN(test_open_waits_for_plain_unlink);
    return test_summary();
}
