/* fsck_damage.c - damages a stopped server's store in one controlled way, for
 * tests/system/fsck.sh (benchfs-fsck must then name the damage and repair it).
 *
 *   fsck_damage place PARENT NAME NODES          prints the node of entry (PARENT, NAME)
 *   fsck_damage DATA del-inode INO               deletes inode INO's record
 *   fsck_damage DATA set-nlink INO N             sets its nlink to N
 *   fsck_damage DATA add-entry PARENT NAME INO   adds entry (PARENT, NAME) -> INO (a file)
 *   fsck_damage DATA del-entry PARENT NAME       deletes entry (PARENT, NAME)
 *   fsck_damage DATA add-chunk INO IDX           creates chunk file (INO, IDX), 4 KiB
 *   fsck_damage DATA put TABLE KEYHEX VALHEX     puts a raw record (the table is created if absent)
 *   fsck_damage DATA del TABLE KEYHEX            deletes a raw record
 * Inode numbers in hex. Exit 0 on success, 1 with a message otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/byteorder.h"
#include "../../common/placement.h"
#include "../../server/chunkstore.h"
#include "../../server/meta.h"

static uint64_t num(const char *s, int base)
{
    char *end;
    errno = 0;
    uint64_t v = strtoull(s, &end, base);
    if (errno || *end || !*s) {
        fprintf(stderr, "fsck_damage: bad number '%s'\n", s);
        exit(1);
    }
    return v;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "fsck_damage: %s: %s\n", what, mdb_strerror(rc));
    return 1;
}

/* Hex digits to bytes: the count, or -1. */
static int unhex(const char *s, unsigned char *out, size_t max)
{
    size_t n = strlen(s);
    if (n % 2 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return (int)(n / 2);
}

static int add_chunk(const char *data, uint64_t ino, uint64_t idx)
{
    char path[4200], buf[4096];
    snprintf(path, sizeof path, "%s/chunks/%02x", data, chunkstore_bucket(ino));
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/chunks/%02x/%016" PRIx64 ".%" PRIu64, data,
             chunkstore_bucket(ino), ino, idx);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    memset(buf, 'x', sizeof buf);
    if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
        fprintf(stderr, "fsck_damage: %s: %s\n", path, strerror(errno));
        return 1;
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "place") == 0) {
        printf("%" PRIu32 "\n", place_dentry(num(argv[2], 16), argv[3], strlen(argv[3]),
                                             (uint32_t)num(argv[4], 10)));
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: see tests/system/fsck_damage.c\n");
        return 1;
    }
    const char *data = argv[1], *op = argv[2];
    if (strcmp(op, "add-chunk") == 0 && argc == 5)
        return add_chunk(data, num(argv[3], 16), num(argv[4], 10));

    char path[4200];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi inodes, dentries;
    int rc;
    snprintf(path, sizeof path, "%s/meta.lmdb", data);
    struct stat sb;
    if (stat(path, &sb) < 0) {
        perror(path);
        return 1;
    }
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 32)) ||
        (rc = mdb_env_set_mapsize(env, (size_t)sb.st_size + (16u << 20))) ||
        (rc = mdb_env_open(env, path, MDB_NOSUBDIR, 0600)))
        return fail(path, rc);
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, "inodes", 0, &inodes)) ||
        (rc = mdb_dbi_open(txn, "dentries", 0, &dentries)))
        return fail("open tables", rc);
    unsigned char kb[16 + 256], vb[4096 + 64];
    MDB_val k = { 8, kb }, v;
    if ((strcmp(op, "put") == 0 && argc == 6) || (strcmp(op, "del") == 0 && argc == 5)) {
        MDB_dbi t;
        int kl = unhex(argv[4], kb, sizeof kb), vl = argc == 6 ? unhex(argv[5], vb, sizeof vb) : 0;
        if (kl <= 0 || vl < 0) {
            fprintf(stderr, "fsck_damage: bad hex\n");
            return 1;
        }
        if ((rc = mdb_dbi_open(txn, argv[3], MDB_CREATE, &t)))
            return fail(argv[3], rc);
        k.mv_size = (size_t)kl;
        v = (MDB_val){ (size_t)vl, vb };
        rc = argc == 6 ? mdb_put(txn, t, &k, &v, 0) : mdb_del(txn, t, &k, NULL);
    } else if (strcmp(op, "del-inode") == 0 && argc == 4) {
        put_be64(kb, num(argv[3], 16));
        rc = mdb_del(txn, inodes, &k, NULL);
    } else if (strcmp(op, "set-nlink") == 0 && argc == 5) {
        put_be64(kb, num(argv[3], 16));
        if (!(rc = mdb_get(txn, inodes, &k, &v))) {
            if (v.mv_size < 49 || v.mv_size > sizeof vb)
                return fail("inode record", MDB_CORRUPTED);
            memcpy(vb, v.mv_data, v.mv_size);
            put_le32(vb + 5, (uint32_t)num(argv[4], 10));
            v.mv_data = vb;
            rc = mdb_put(txn, inodes, &k, &v, 0);
        }
    } else if (strcmp(op, "add-entry") == 0 && argc == 6) {
        k.mv_size = meta_dentry_key(num(argv[3], 16), argv[4], strlen(argv[4]), kb);
        put_le64(vb, num(argv[5], 16));
        put_le32(vb + 8, S_IFREG);
        v = (MDB_val){ 12, vb };
        rc = mdb_put(txn, dentries, &k, &v, MDB_NOOVERWRITE);
    } else if (strcmp(op, "del-entry") == 0 && argc == 5) {
        k.mv_size = meta_dentry_key(num(argv[3], 16), argv[4], strlen(argv[4]), kb);
        rc = mdb_del(txn, dentries, &k, NULL);
    } else {
        fprintf(stderr, "fsck_damage: unknown operation %s (or wrong arguments)\n", op);
        return 1;
    }
    if (rc || (rc = mdb_txn_commit(txn)))
        return fail(op, rc);
    mdb_env_close(env);
    return 0;
}
