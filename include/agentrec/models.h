/*
 * agentrec/models.h -- part of the public API; include "agentrec.h", which includes this file.
 *
 * The model zoo: one model interface (a vtable behind ar_model), fit / score / top-K / explain / save / load, and each model's decision space.
 */
#ifndef AGENTREC_MODELS_H
#define AGENTREC_MODELS_H

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* AGENTREC_MODELS_H */
