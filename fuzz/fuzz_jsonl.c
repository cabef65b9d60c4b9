/* fuzz_jsonl.c - JSON lines parser, and the reader in front of it.
 *
 * Each input is parsed as one line by cof_jsonl_parse, then fed through the reader
 * from a memfd (so gzip inputs exercise inflate, concatenated members and damaged
 * streams) and every line it yields is parsed too. Checks: events hold the required
 * fields within bounds; reader offsets are exact for plain input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bounds.h"
#include "jsonl.h"
#include "reader.h"

static cof_status check_event(void *ctx, const cof_event *ev)
{
    (void)ctx;
    if (ev->f[COF_F_RECIPIENT].n == 0 || ev->status == COF_ST_UNKNOWN || ev->time_us < 0)
        abort();
    for (int i = 0; i < COF_NFIELDS; i++) {
        if (ev->f[i].n > COF_MAX_FIELD || (ev->f[i].n && !cof_str_utf8_valid(ev->f[i])))
            abort();
        for (size_t k = 0; k < ev->f[i].n; k++)
            if ((unsigned char)ev->f[i].p[k] < 0x20)
                abort();
    }
    return COF_OK;
}

static void parse(const uint8_t *p, size_t n, uint64_t pos)
{
    cof_skip_reason skip;
    if (cof_jsonl_parse(cof_str_make((const char *)p, n), pos, check_event, NULL, &skip) !=
        COF_OK)
        abort();
    if (skip >= COF_NSKIP)
        abort();
}

static void through_reader(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return;
    }
    cof_reader *r;
    if (cof_reader_open_fd(fd, "fuzz", NULL, &r) != COF_OK) {
        close(fd);
        return;
    }
    int gz = cof_reader_is_gzip(r);
    cof_str line;
    uint64_t off, next = 0;
    int flags;
    cof_status st;
    while ((st = cof_reader_next(r, &line, &off, &flags)) == COF_OK) {
        if (line.n > COF_MAX_LINE || off < next)
            abort();
        if (!gz && (off + line.n > size || memcmp(line.p, data + off, line.n) != 0))
            abort();
        next = cof_reader_tell(r);
        parse((const uint8_t *)line.p, line.n, off);
    }
    if (st != COF_NOTFOUND && st != COF_CORRUPT)
        abort();
    if (!gz && st == COF_NOTFOUND && cof_reader_tell(r) != size)
        abort();
    uint8_t fp[COF_READER_FP_LEN];
    if (cof_reader_fingerprint(r, fp) != COF_OK)
        abort();
    cof_reader_free(r);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(data, size, 0);
    through_reader(data, size);
    return 0;
}
