/*
 * registry.h - which backends this build has, their names, and the
 * choice among them (POLLUX_BACKEND_AUTO, the POLLUX_BACKEND variable).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef POLLUX_REGISTRY_H
#define POLLUX_REGISTRY_H

#include "backend.h"

/* The name of a backend, compiled in or not; NULL outside the enum. */
const char *pollux_registry_name(pollux_backend id);
/* The backend's declarations and hooks; NULL where it is not compiled. */
const struct backend_ops *pollux_registry_ops(pollux_backend id);
/* Bit (1u << id) for each backend usable here (probed once). */
unsigned pollux_registry_usable(void);
/* The backend for pollux_new(id): AUTO resolved; 0, -EINVAL or -ENOTSUP. */
int pollux_registry_choose(pollux_backend *id);

#endif
