/*
 * agentrec/ledger.h -- part of the public API; include "agentrec.h", which includes this file.
 *
 * The knowledge ledger: runs, params, metrics, decisions, artifacts, model registry and experiments, on SQLite or PostgreSQL.
 */
#ifndef AGENTREC_LEDGER_H
#define AGENTREC_LEDGER_H

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* AGENTREC_LEDGER_H */
