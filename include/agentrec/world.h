/*
 * agentrec/world.h -- part of the public API; include "agentrec.h", which includes this file.
 *
 * The retail world simulator: catalogue, customers, visits, events, guardrails, policies and online evaluation.
 */
#ifndef AGENTREC_WORLD_H
#define AGENTREC_WORLD_H

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* AGENTREC_WORLD_H */
