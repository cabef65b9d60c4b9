/* reader.h - a line source over a plain file, a gzip file or standard input.
 *
 * The reader hands out one line per call as a slice into its own fixed buffer
 * (READ_CHUNK + COF_MAX_LINE bytes; a gzip source adds one 128 KiB input buffer and
 * zlib's 32 KiB window): memory does not depend on the input. It never judges content:
 * NUL bytes, invalid UTF-8 and binary junk pass through unchanged.
 *
 * Offsets: every line carries the byte offset of its first byte in the uncompressed
 * stream of the current file (generation). Offsets are exact whatever happens to the
 * line (CR stripping, over-long truncation): the line after it starts at
 * off + raw length + 1.
 *
 * Gzip is recognized by its magic bytes (1f 8b), on files and on standard input, and
 * decompressed with inflate; concatenated members are read as one stream. Data after
 * the last member that is not another member, and a stream cut short, are reported as
 * COF_CORRUPT after every complete line before them has been returned.
 *
 * End of input: cof_reader_next returns COF_NOTFOUND, and keeps returning it. COF_AGAIN
 * is never returned (the reader blocks or polls; it has no non-blocking mode). Errors
 * from the operating system are COF_IO (never COF_NOTFOUND once open has succeeded).
 *
 * Follow mode (tail -F semantics), for plain regular files opened by path:
 *   at end of file the reader sleeps opts.poll_ms (nanosleep; it never spins) and
 *   looks again, until opts.stop (if set) becomes non-zero;
 *   rename rotation: when the path names another inode, the old file is read to its
 *   end (its last line without newline, if any, is returned with COF_LINE_TRUNCATED),
 *   then the new file is opened and read from offset 0; while the path is missing the
 *   reader keeps polling the old file and waits for the new one;
 *   copytruncate: when the file becomes shorter than what was read, or its first 4096
 *   bytes change, reading restarts at offset 0 (a pending partial line is dropped: its
 *   complete copy is in the copied file);
 *   at each rotation the generation increments, offsets restart at 0 and the
 *   fingerprint is that of the new file. A start_offset beyond the end of a followed
 *   file therefore counts as a truncation (reading restarts at 0, generation 1):
 *   compare fingerprints before trusting a checkpoint.
 *   Follow is ignored for gzip sources (compressed logs are not appended to) and for
 *   pipes (their end is the writer closing). A blocking read on a pipe is left early
 *   only if a signal interrupts it (install the handler without SA_RESTART) and
 *   *opts.stop is set.
 *
 * Fingerprint: BLAKE2b-128 (personalized "coffer-fp-v1") of the first 4096 bytes of
 * the uncompressed content, so the same content plain or gzipped, or renamed, has the
 * same fingerprint. When the content is shorter than 4096 bytes the fingerprint is
 * provisional (a growing file will change it); for a regular file it is recomputed on
 * each call while provisional. For standard input it covers the bytes read so far.
 *
 * Not thread-safe: one reader per thread. */
#ifndef COF_READER_H
#define COF_READER_H

#include <signal.h>
#include <stdint.h>

#include "status.h"
#include "str.h"

#define COF_READER_FP_LEN 16
#define COF_READER_FP_HEAD 4096
#define COF_READER_POLL_MS_DEFAULT 200

/* Flags set by cof_reader_next. */
#define COF_LINE_OVERLONG 1u  /* longer than COF_MAX_LINE: the slice is its first
                                 COF_MAX_LINE bytes, the rest was skipped */
#define COF_LINE_TRUNCATED 2u /* last line of the input (or of a rotated-away file)
                                 had no trailing newline */

typedef struct {
    int follow;                  /* tail -F: wait for more at end of file */
    uint64_t start_offset;       /* uncompressed offset to resume from; should be the
                                    start of a line (a value from cof_reader_tell) */
    uint32_t poll_ms;            /* follow poll interval; 0: COF_READER_POLL_MS_DEFAULT */
    volatile sig_atomic_t *stop; /* optional: non-zero ends follow mode */
} cof_reader_opts;

typedef struct cof_reader cof_reader;

/* Defaults: no follow, offset 0, 200 ms, no stop flag. */
void cof_reader_opts_default(cof_reader_opts *o);

/* Open path ("-" is standard input, not closed by cof_reader_free). o may be NULL for
 * the defaults. COF_NOTFOUND if the file does not exist, COF_DENIED, COF_IO, COF_NOMEM;
 * COF_CORRUPT if the gzip header is unreadable. A start_offset past the end of a
 * non-followed input simply yields end of input. On success *out is owned by the
 * caller (cof_reader_free). */
cof_status cof_reader_open(const char *path, const cof_reader_opts *o,
                           cof_reader **out) COF_MUST_USE;

/* Same over an open descriptor (a pipe, a socket, a file). The reader does not take
 * ownership: the caller closes fd after cof_reader_free. name is used in error
 * details only (may be NULL). Follow mode on a descriptor detects truncation only. */
cof_status cof_reader_open_fd(int fd, const char *name, const cof_reader_opts *o,
                              cof_reader **out) COF_MUST_USE;

void cof_reader_free(cof_reader *r);

/* Next line. On COF_OK: *line is the line without its '\n' and without one trailing
 * '\r', valid until the next call on r; *off its starting offset in the current
 * generation; *flags a set of COF_LINE_*. COF_NOTFOUND at end of input (or when the
 * stop flag ended follow mode); COF_IO / COF_CORRUPT on errors. off and flags may be
 * NULL. */
cof_status cof_reader_next(cof_reader *r, cof_str *line, uint64_t *off,
                           int *flags) COF_MUST_USE;

/* Offset (current generation) of the first byte not yet returned: where the next line
 * starts; the value to checkpoint and to pass back as start_offset. */
uint64_t cof_reader_tell(const cof_reader *r);

/* Number of rotations followed so far (0 for the file first opened). */
uint64_t cof_reader_generation(const cof_reader *r);

/* Fingerprint of the current file (see above). COF_OK, or an I/O error while
 * recomputing a provisional one for a regular file. */
cof_status cof_reader_fingerprint(cof_reader *r, uint8_t out[COF_READER_FP_LEN]) COF_MUST_USE;

/* 1 if the fingerprint last returned covers fewer than COF_READER_FP_HEAD bytes. */
int cof_reader_fingerprint_provisional(const cof_reader *r);

/* Progress: *total is the size of the file on disk (compressed size for gzip; 0 when
 * unknown, e.g. a pipe), *done the bytes of it consumed so far. */
void cof_reader_size_hint(cof_reader *r, uint64_t *total, uint64_t *done);

/* 1 if the source is gzip-compressed (known after open for files, after the first
 * read for standard input). */
int cof_reader_is_gzip(const cof_reader *r);

#endif
