/* bounds.h - every bound coffer enforces, with the reason for it.
 * (Named bounds.h, not limits.h, so it never shadows the C library's header.) */
#ifndef COF_BOUNDS_H
#define COF_BOUNDS_H

/* Longest log line accepted. Postfix truncates its own records at line_length_limit
 * (2048) plus the syslog prefix; 8 KiB leaves room for JSON lines, anything longer
 * is counted as "over-long" and skipped. */
#define COF_MAX_LINE 8192

/* Longest value of one event field kept. RFC 5321 limits a path to 256 octets and a
 * reply line to 512; subjects and responses longer than this are truncated. */
#define COF_MAX_FIELD 1024

/* Longest email address accepted for a blind index (RFC 5321 path limit). */
#define COF_MAX_ADDR 320

/* Open messages held by the correlator before the oldest is evicted (see
 * correlate.h for the eviction rule). ~1 KiB each: 64 MiB at most. */
#define COF_MAX_OPEN_MESSAGES 65536

/* Recipients remembered per open message; Postfix's default
 * smtpd_recipient_limit is 1000. */
#define COF_MAX_RCPT_PER_MESSAGE 1000

/* Tenants in one store and tenant name length. */
#define COF_MAX_TENANTS 4096
#define COF_MAX_TENANT_NAME 64

/* Config file: size and line length. */
#define COF_MAX_CONFIG_BYTES (1 << 20)
#define COF_MAX_CONFIG_LINE 4096
#define COF_MAX_TENANT_RULES 1024

/* Keyring file size (hostile input: validated before use). */
#define COF_MAX_KEYRING_BYTES (64u << 20)

/* WAL: one group-commit frame holds at most this many bytes of records. */
#define COF_MAX_WAL_FRAME (4u << 20)

/* Events buffered in memory (memtable) before a segment flush, and its byte cap;
 * together with COF_MAX_OPEN_MESSAGES this keeps ingest under 256 MiB. */
#define COF_MEMTABLE_ROWS 262144
#define COF_MEMTABLE_BYTES (64u << 20)

/* Segment files: rows per block, rows per segment, and the largest decompressed
 * block accepted from disk (cap before allocating). */
#define COF_SEG_BLOCK_ROWS 8192
#define COF_SEG_MAX_ROWS (1u << 24)
#define COF_SEG_MAX_BLOCK_BYTES (64u << 20)

/* Segments in one store, and segments held open at once: one descriptor each, well
 * under the usual 1024 limit. More live segments than this would re-open segments
 * on every lookup and lose their caches, so merges keep the count far below it. */
#define COF_MAX_SEGMENTS 100000
#define COF_MAX_OPEN_SEGMENTS 512

/* MANIFEST size: COF_MAX_SEGMENTS entries of at most ~110 bytes plus the source
 * checkpoints fit far below this; read with this cap before allocating. */
#define COF_MAX_MANIFEST_BYTES ((size_t)1 << 30)

/* Backups (backup.c). Files in one backup: every live segment, plus WAL, spool and
 * audit files and the small documents, with room to spare. */
#define COF_BACKUP_MAX_FILES (COF_MAX_SEGMENTS + 100000)
/* The BACKUP manifest: one JSON line of at most ~200 bytes per file. */
#define COF_BACKUP_MAX_MANIFEST_BYTES ((size_t)64 << 20)
/* A relative path inside a backup ("seg/<16 hex>.seg", "changes/<id>.json"). */
#define COF_BACKUP_MAX_PATH 200
/* Fresh MANIFEST reads when a listed segment vanished (merged away) before it could be
 * opened; each retry follows a merge that finished meanwhile, so a handful suffice. */
#define COF_BACKUP_MAX_RETRIES 50

/* Query results: events returned by one trail lookup before truncation. */
#define COF_MAX_TRAIL_EVENTS 100000

/* Entries (keys and tombstones) in one keyring. A data key exists per tenant and UTC
 * day kept (e.g. 1,400 tenants x 365 days); at most 102 bytes each serialized, so
 * 2^19 entries (53 MiB) stay under COF_MAX_KEYRING_BYTES. */
#define COF_MAX_KEYRING_ENTRIES (1u << 19)

/* Correlator (correlate.c). Strings remembered per open message (ids, addresses,
 * subject, recipient list); past it more recipients are not remembered, events are
 * still emitted with what their own line carries. */
#define COF_MAX_MESSAGE_BYTES (64u << 10)

/* All open messages' string buffers together; reaching it evicts the message with the
 * oldest activity, like COF_MAX_OPEN_MESSAGES. */
#define COF_MAX_CORR_BYTES (64u << 20)

/* Strings of held-back delivery attempts (recipient, relay, response...); reaching it
 * releases the oldest pending attempts. */
#define COF_MAX_PENDING_BYTES (64u << 20)

/* smtpd/smtp sessions (host, instance, service, pid) tracked for TLS and SASL facts,
 * and how long one may stay idle: Postfix's own session timeouts are 300 s. */
#define COF_MAX_SESSIONS 16384
#define COF_SESSION_IDLE_SECONDS 3600

#endif
