/* crc.h - CRC-32C (Castagnoli), the checksum on every segment frame.
 *
 * Detects accidental corruption (torn writes, bit rot) before any decoder sees the
 * bytes; it is not a MAC: sealed frames are authenticated by their AEAD tag. Uses the
 * SSE4.2 crc32 instruction when the CPU has it, a slicing-by-8 table otherwise. */
#ifndef COF_CRC_H
#define COF_CRC_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of n bytes of p, continuing from crc (pass 0 to start). */
uint32_t cof_crc32c(uint32_t crc, const void *p, size_t n);

#endif
