/* fsutil.h - small system-call wrappers shared by every module that touches files.
 *
 * Rules they enforce so callers cannot forget them:
 *   - every descriptor is opened with O_CLOEXEC;
 *   - reads and writes retry on EINTR and on short transfers;
 *   - "durable" means the file was fsync'ed AND so was the directory holding its name;
 *   - replacing a file is atomic: write "<path>.tmp-<random>", fsync, rename, fsync dir,
 *     so a crash leaves either the old file or the new one, never a torn one.
 * Errors are reported with COF_ERRNO/COF_ERR and name the path (never file contents).
 * Functions are named cof_fs_<verb>. */
#ifndef COF_FSUTIL_H
#define COF_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "status.h"

/* Write all n bytes of buf to fd, retrying on EINTR and short writes. path is used
 * only in the error detail (may be NULL). */
cof_status cof_fs_write_all(int fd, const void *buf, size_t n, const char *path) COF_MUST_USE;

/* pwrite all n bytes at offset off (same retry rules). */
cof_status cof_fs_pwrite_all(int fd, const void *buf, size_t n, off_t off,
                             const char *path) COF_MUST_USE;

/* Read up to n bytes, stopping early only at end of file; *got receives the count
 * (< n means end of file was reached). */
cof_status cof_fs_read_all(int fd, void *buf, size_t n, size_t *got,
                           const char *path) COF_MUST_USE;

/* open(2) with O_CLOEXEC added, retrying on EINTR. On success *fd is the descriptor. */
cof_status cof_fs_open(const char *path, int flags, mode_t mode, int *fd) COF_MUST_USE;

/* close(2) that reports errors (a failed close after writing can mean lost data). */
cof_status cof_fs_close(int fd, const char *path) COF_MUST_USE;

/* fsync a descriptor; fsync a directory by path; fsync the directory holding path. */
cof_status cof_fs_fsync(int fd, const char *path) COF_MUST_USE;
cof_status cof_fs_fsync_dir(const char *dir) COF_MUST_USE;
cof_status cof_fs_fsync_parent(const char *path) COF_MUST_USE;

/* Atomically replace (or create) path with n bytes of buf and the given mode:
 * tmp file in the same directory, write, fsync, rename over path, fsync directory.
 * On failure the temporary file is removed and path is unchanged (unless the failure
 * was the final directory fsync, after which the new content may or may not survive
 * a crash). */
cof_status cof_fs_replace(const char *path, const void *buf, size_t n,
                          mode_t mode) COF_MUST_USE;

/* Like cof_fs_replace but never overwrites: COF_EXISTS if path exists (checked
 * atomically with link(2), so two racing creators cannot both succeed). */
cof_status cof_fs_create_atomic(const char *path, const void *buf, size_t n,
                                mode_t mode) COF_MUST_USE;

/* Read a whole regular file into a malloc'd buffer (*buf, *n; caller frees with free()).
 * COF_LIMIT if it is larger than max bytes (checked before allocating); COF_NOTFOUND if
 * it does not exist; COF_CORRUPT if it is not a regular file. *buf is never NULL on
 * success (an empty file gives a 1-byte allocation and *n == 0). */
cof_status cof_fs_read_file(const char *path, size_t max, uint8_t **buf,
                            size_t *n) COF_MUST_USE;

/* mkdir -p: create path and every missing parent with mode (existing directories are
 * left as they are); each created directory's parent is fsync'ed. */
cof_status cof_fs_mkdir_p(const char *path, mode_t mode) COF_MUST_USE;

/* Open (creating, 0600) the lock file path and take an exclusive flock on it, waiting.
 * Closing *fd releases it. */
cof_status cof_fs_lock(const char *path, int *fd) COF_MUST_USE;

/* Check that the open file fd (named path, described as what, e.g. "master key file")
 * is a regular file, has permission bits exactly equal to mode and is owned by the
 * effective uid. COF_DENIED with a message saying which check failed and the command
 * that fixes it. */
cof_status cof_fs_check_private(int fd, const char *path, const char *what,
                                mode_t mode) COF_MUST_USE;

/* Directory part of path into out ("." if none, "/" for "/x"); COF_LIMIT if it does
 * not fit in cap bytes. */
cof_status cof_fs_dir_of(const char *path, char *out, size_t cap) COF_MUST_USE;

/* Canonical absolute form of path: symbolic links, "." and ".." resolved for the part
 * that exists, the rest (which does not exist yet) normalized lexically. COF_LIMIT if
 * it does not fit in cap bytes. */
cof_status cof_fs_resolve(const char *path, char *out, size_t cap) COF_MUST_USE;

/* *inside = 1 if path is dir or lies below it, after resolving both (cof_fs_resolve). */
cof_status cof_fs_is_inside(const char *path, const char *dir, int *inside) COF_MUST_USE;

#endif
