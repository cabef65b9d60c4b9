/* cli_audit.c - one whole audit record from a CLI command (cli.h): open the trail with
 * the signing subkey of the caller's open keyring, append, checkpoint and close. */
#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "keyring.h"

cof_status cof_cli_audit_rec(const cof_config *cfg, cof_keyring *kr, const cof_audit_rec *r,
                             uint64_t *seq)
{
    cof_audit *au = NULL;
    uint8_t *seed = sodium_malloc(COF_KEY_LEN);
    cof_status st;
    if (!seed)
        return COF_ERR(COF_NOMEM, "key memory");
    if (!(st = cof_keyring_subkey(kr, "audit-ed25519", seed)) &&
        !(st = cof_audit_open(cfg->data_dir, seed, &au)))
        st = cof_audit_append(au, r, seq);
    cof_audit_close(au); /* writes the checkpoint that signs the record */
    sodium_free(seed);
    return st;
}
