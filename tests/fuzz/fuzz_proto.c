/* fuzz_proto.c - libFuzzer target for everything BenchFS decodes from the wire
 * or from the registry: request and reply headers, every op's arguments (which
 * must re-encode to the same bytes), readdir entries, OP_STATUS records and
 * registry files.
 * Build: make fuzz; run: build/fuzz/fuzz_proto tests/fuzz/corpus */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/proto.h"
#include "../../common/registry.h"

static void args_roundtrip(uint32_t op, int reply, const uint8_t *data, size_t size)
{
    struct bfs_msg m;
    if (proto_args_decode(op, reply, data, size, &m) != 0)
        return;
    /* A decoded message re-encodes to exactly the bytes it came from. */
    size_t n = proto_args_size(op, reply, &m);
    if (n != size)
        abort();
    uint8_t *out = malloc(n + 1);
    if (!out || proto_args_encode(op, reply, &m, out) != n || memcmp(out, data, n) != 0)
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t which = data[0], op = data[1];
    data += 2;
    size -= 2;
    switch (which % 5) {
    case 0: {
        struct bfs_req_hdr h;
        if (proto_req_hdr_decode(data, size < BFS_REQ_HDR_LEN ? size : BFS_REQ_HDR_LEN, &h) == 0 &&
            size >= BFS_REQ_HDR_LEN)
            args_roundtrip(h.op, 0, data + BFS_REQ_HDR_LEN, size - BFS_REQ_HDR_LEN);
        break;
    }
    case 1: {
        struct bfs_rep_hdr h;
        proto_rep_hdr_decode(data, size < BFS_REP_HDR_LEN ? size : BFS_REP_HDR_LEN, &h);
        args_roundtrip(op % (OP_MAX + 1), 1, data, size);
        break;
    }
    case 2:
        args_roundtrip(op % (OP_MAX + 1), 0, data, size);
        break;
    case 3: {
        struct bfs_dirent d;
        size_t pos = 0;
        while (proto_dirent_decode(data, size, &pos, &d) == 1)
            if (pos > size || strlen(d.name) == 0)
                abort();
        /* The same bytes as an OP_STATUS bulk: what decodes re-encodes and decodes alike. */
        struct bfs_status st, back;
        if (proto_status_decode(data, size, &st) == 0) {
            uint8_t *out = malloc(proto_status_size());
            if (!out || proto_status_encode(&st, out) != proto_status_size() ||
                proto_status_decode(out, proto_status_size(), &back) != 0 || back.ncounters != OP_MAX ||
                memcmp(back.counters, st.counters, st.ncounters * sizeof st.counters[0]) != 0 ||
                strcmp(back.host, st.host) != 0 || back.inodes != st.inodes)
                abort();
            free(out);
        }
        break;
    }
    default: {
        struct registry_entry e;
        if (registry_decode(data, size, &e) == 0)
            registry_entry_clear(&e);
        break;
    }
    }
    return 0;
}
