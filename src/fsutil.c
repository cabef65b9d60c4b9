/* fsutil.c - EINTR-safe, O_CLOEXEC, fsync-correct file helpers (see fsutil.h). */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_OR(p) ((p) ? (p) : "(fd)")

cof_status cof_fs_write_all(int fd, const void *buf, size_t n, const char *path)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return COF_ERRNO("write %s", PATH_OR(path));
        }
        if (w == 0)
            return COF_ERR(COF_IO, "write %s: wrote nothing", PATH_OR(path));
        p += w;
        n -= (size_t)w;
    }
    return COF_OK;
}

cof_status cof_fs_pwrite_all(int fd, const void *buf, size_t n, off_t off, const char *path)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return COF_ERRNO("pwrite %s", PATH_OR(path));
        }
        if (w == 0)
            return COF_ERR(COF_IO, "pwrite %s: wrote nothing", PATH_OR(path));
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return COF_OK;
}

cof_status cof_fs_read_all(int fd, void *buf, size_t n, size_t *got, const char *path)
{
    uint8_t *p = buf;
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, p + done, n - done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return COF_ERRNO("read %s", PATH_OR(path));
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return COF_OK;
}

cof_status cof_fs_open(const char *path, int flags, mode_t mode, int *fd)
{
    int f;
    do
        f = open(path, flags | O_CLOEXEC, mode);
    while (f < 0 && errno == EINTR);
    if (f < 0) {
        if (errno == EEXIST)
            return COF_ERR(COF_EXISTS, "%s already exists", path);
        return COF_ERRNO("open %s", path);
    }
    *fd = f;
    return COF_OK;
}

cof_status cof_fs_close(int fd, const char *path)
{
    /* On Linux the descriptor is released even when close fails with EINTR: never retry. */
    if (close(fd) != 0 && errno != EINTR)
        return COF_ERRNO("close %s", PATH_OR(path));
    return COF_OK;
}

cof_status cof_fs_fsync(int fd, const char *path)
{
    int r;
    do
        r = fsync(fd);
    while (r != 0 && errno == EINTR);
    if (r != 0)
        return COF_ERRNO("fsync %s", PATH_OR(path));
    return COF_OK;
}

cof_status cof_fs_fsync_dir(const char *dir)
{
    int fd = -1;
    cof_status st = cof_fs_open(dir, O_RDONLY | O_DIRECTORY, 0, &fd);
    if (st)
        return st;
    st = cof_fs_fsync(fd, dir);
    (void)close(fd);
    return st;
}

cof_status cof_fs_dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n;
    if (!slash) {
        out[0] = '.';
        out[1] = 0;
        return COF_OK;
    }
    n = (size_t)(slash - path);
    if (n == 0)
        n = 1;
    if (n >= cap)
        return COF_ERR(COF_LIMIT, "path too long: %.64s...", path);
    memcpy(out, path, n);
    out[n] = 0;
    return COF_OK;
}

cof_status cof_fs_fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    cof_status st = cof_fs_dir_of(path, dir, sizeof dir);
    if (st)
        return st;
    return cof_fs_fsync_dir(dir);
}

/* Write buf to a fresh temporary file next to path; *tmp receives its name. The file is
 * fsync'ed and closed on success and removed on failure. */
static cof_status write_tmp(const char *path, const void *buf, size_t n, mode_t mode, char *tmp,
                            size_t cap)
{
    /* "<path>.tmp-" and six template characters for mkostemp. */
    int fd, len = snprintf(tmp, cap, "%s.tmp-", path);
    cof_status st;
    if (len < 0 || (size_t)len + 6 >= cap)
        return COF_ERR(COF_LIMIT, "path too long: %.64s...", path);
    memset(tmp + len, 'X', 6);
    tmp[len + 6] = 0;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return COF_ERRNO("create temporary file for %s", path);
    if (fchmod(fd, mode) != 0) {
        st = COF_ERRNO("chmod %s", tmp);
        goto fail;
    }
    st = cof_fs_write_all(fd, buf, n, tmp);
    if (st)
        goto fail;
    st = cof_fs_fsync(fd, tmp);
    if (st)
        goto fail;
    st = cof_fs_close(fd, tmp);
    if (st)
        (void)unlink(tmp);
    return st;
fail:
    (void)close(fd);
    (void)unlink(tmp);
    return st;
}

cof_status cof_fs_replace(const char *path, const void *buf, size_t n, mode_t mode)
{
    char tmp[PATH_MAX];
    cof_status st = write_tmp(path, buf, n, mode, tmp, sizeof tmp);
    if (st)
        return st;
    if (rename(tmp, path) != 0) {
        st = COF_ERRNO("rename %s to %s", tmp, path);
        (void)unlink(tmp);
        return st;
    }
    return cof_fs_fsync_parent(path);
}

cof_status cof_fs_create_atomic(const char *path, const void *buf, size_t n, mode_t mode)
{
    char tmp[PATH_MAX];
    cof_status st = write_tmp(path, buf, n, mode, tmp, sizeof tmp);
    if (st)
        return st;
    if (link(tmp, path) != 0) {
        st = errno == EEXIST ? COF_ERR(COF_EXISTS, "%s already exists", path)
                             : COF_ERRNO("link %s to %s", tmp, path);
        (void)unlink(tmp);
        return st;
    }
    (void)unlink(tmp);
    return cof_fs_fsync_parent(path);
}

cof_status cof_fs_read_file(const char *path, size_t max, uint8_t **buf, size_t *n)
{
    struct stat sb;
    uint8_t *b = NULL;
    size_t got = 0, size;
    int fd = -1;
    cof_status st = cof_fs_open(path, O_RDONLY | O_NONBLOCK, 0, &fd);
    if (st)
        return st;
    if (fstat(fd, &sb) != 0) {
        st = COF_ERRNO("stat %s", path);
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = COF_ERR(COF_CORRUPT, "%s is not a regular file", path);
        goto out;
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > max) {
        st = COF_ERR(COF_LIMIT, "%s is larger than %zu bytes", path, max);
        goto out;
    }
    size = (size_t)sb.st_size;
    /* One spare byte tells us if the file grew since fstat. */
    b = malloc(size + 1);
    if (!b) {
        st = COF_ERR(COF_NOMEM, "reading %s: out of memory", path);
        goto out;
    }
    st = cof_fs_read_all(fd, b, size + 1, &got, path);
    if (st)
        goto out;
    if (got != size) {
        st = COF_ERR(COF_IO, "%s changed size while being read", path);
        goto out;
    }
    *buf = b;
    *n = size;
    b = NULL;
out:
    free(b);
    (void)close(fd);
    return st;
}

cof_status cof_fs_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    struct stat sb;
    if (len == 0)
        return COF_ERR(COF_BADINPUT, "empty directory path");
    if (len >= sizeof buf)
        return COF_ERR(COF_LIMIT, "path too long: %.64s...", path);
    memcpy(buf, path, len + 1);
    /* Walk each prefix ending before a '/', then the whole path. */
    for (size_t i = 1; i <= len; i++) {
        if (i < len && buf[i] != '/')
            continue;
        if (i < len && buf[i - 1] == '/')
            continue; /* "//" */
        char save = buf[i];
        buf[i] = 0;
        if (mkdir(buf, mode) == 0) {
            cof_status st = cof_fs_fsync_parent(buf);
            if (st) {
                buf[i] = save;
                return st;
            }
        } else if (errno != EEXIST) {
            cof_status st = COF_ERRNO("mkdir %s", buf);
            return st;
        } else if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            return COF_ERR(COF_BADINPUT, "%s exists and is not a directory", buf);
        }
        buf[i] = save;
    }
    return COF_OK;
}

cof_status cof_fs_check_private(int fd, const char *path, const char *what, mode_t mode)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return COF_ERRNO("stat %s", path);
    if (!S_ISREG(sb.st_mode))
        return COF_ERR(COF_DENIED, "%s %s is not a regular file; it must be a plain file "
                       "readable only by its owner", what, path);
    if (sb.st_uid != geteuid())
        return COF_ERR(COF_DENIED, "%s %s is owned by uid %u, not by the user running coffer "
                       "(uid %u); fix with: chown %u %s", what, path, (unsigned)sb.st_uid,
                       (unsigned)geteuid(), (unsigned)geteuid(), path);
    if ((sb.st_mode & 07777) != mode)
        return COF_ERR(COF_DENIED, "%s %s has mode %04o; it must be %04o (no group or other "
                       "access); fix with: chmod %o %s", what, path,
                       (unsigned)(sb.st_mode & 07777), (unsigned)mode, (unsigned)mode, path);
    return COF_OK;
}

/* Append component c (n bytes) to the canonical path out (length *len), handling "."
 * and ".." lexically. */
static cof_status push_comp(char *out, size_t cap, size_t *len, const char *c, size_t n)
{
    if (n == 0 || (n == 1 && c[0] == '.'))
        return COF_OK;
    if (n == 2 && c[0] == '.' && c[1] == '.') {
        while (*len > 1 && out[*len - 1] != '/')
            (*len)--;
        if (*len > 1)
            (*len)--; /* drop the '/' too, but keep the root */
        out[*len] = 0;
        return COF_OK;
    }
    size_t need = *len + (*len > 1 ? 1 : 0) + n;
    if (need >= cap)
        return COF_ERR(COF_LIMIT, "path too long");
    if (*len > 1)
        out[(*len)++] = '/';
    memcpy(out + *len, c, n);
    *len += n;
    out[*len] = 0;
    return COF_OK;
}

cof_status cof_fs_resolve(const char *path, char *out, size_t cap)
{
    char abs[PATH_MAX], real[PATH_MAX];
    size_t alen, cut, len;
    cof_status st;
    if (!path || !*path)
        return COF_ERR(COF_BADINPUT, "empty path");
    if (path[0] == '/') {
        alen = strlen(path);
        if (alen >= sizeof abs)
            return COF_ERR(COF_LIMIT, "path too long: %.64s...", path);
        memcpy(abs, path, alen + 1);
    } else {
        if (!getcwd(abs, sizeof abs))
            return COF_ERRNO("getcwd");
        int k = snprintf(abs + strlen(abs), sizeof abs - strlen(abs), "/%s", path);
        if (k < 0 || (size_t)k >= sizeof abs - strlen(abs))
            return COF_ERR(COF_LIMIT, "path too long: %.64s...", path);
        alen = strlen(abs);
    }
    /* Find the longest prefix (ending at a component boundary) that exists. */
    cut = alen;
    for (;;) {
        char save = abs[cut];
        abs[cut] = 0;
        char *r = realpath(cut ? abs : "/", real);
        abs[cut] = save;
        if (r)
            break;
        if (errno != ENOENT && errno != ENOTDIR)
            return COF_ERRNO("resolve %s", path);
        while (cut > 0 && abs[cut - 1] != '/')
            cut--;
        while (cut > 0 && abs[cut - 1] == '/')
            cut--;
    }
    len = strlen(real);
    if (len >= cap)
        return COF_ERR(COF_LIMIT, "path too long: %.64s...", path);
    memcpy(out, real, len + 1);
    /* Normalize the part that does not exist lexically. */
    for (size_t i = cut; i < alen;) {
        while (i < alen && abs[i] == '/')
            i++;
        size_t j = i;
        while (j < alen && abs[j] != '/')
            j++;
        st = push_comp(out, cap, &len, abs + i, j - i);
        if (st)
            return st;
        i = j;
    }
    return COF_OK;
}

cof_status cof_fs_is_inside(const char *path, const char *dir, int *inside)
{
    char p[PATH_MAX], d[PATH_MAX];
    cof_status st = cof_fs_resolve(path, p, sizeof p);
    if (st)
        return st;
    st = cof_fs_resolve(dir, d, sizeof d);
    if (st)
        return st;
    size_t dn = strlen(d);
    if (dn == 1) /* "/" contains everything */
        *inside = 1;
    else
        *inside = strncmp(p, d, dn) == 0 && (p[dn] == 0 || p[dn] == '/');
    return COF_OK;
}

cof_status cof_fs_lock(const char *path, int *fd)
{
    cof_status st = cof_fs_open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600, fd);
    if (st)
        return st;
    while (flock(*fd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        st = COF_ERRNO("flock %s", path);
        (void)close(*fd);
        *fd = -1;
        return st;
    }
    return COF_OK;
}
