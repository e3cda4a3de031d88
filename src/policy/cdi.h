/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Kubernetes path: a CDI spec for a VM (cdi.c) and the names the node side
 * and the pod side share (handoff.c, serve.c's client).  docs/KUBERNETES.md.
 */
#pragma once

#include <stdio.h>

#include "vfiojail/vfiojail.h"

/* The CDI kind: `podman run --device vfiojail.dev/vm=NAME`. */
#define VJ_CDI_KIND "vfiojail.dev/vm"
/* Where the VM's hand-off directory appears in the container. */
#define VJ_CDI_HANDOFF_MOUNT "/run/vfiojail-handoff"
/* The socket's name in the hand-off directory. */
#define VJ_HANDOFF_SOCKET_NAME "handoff.sock"
/* How long a hand-off waits for its client, by default. */
#define VJ_HANDOFF_TIMEOUT_S 60

/* The hand-off directories, in the state dir. */
#define VJ_HANDOFF_DIR "handoff"

/* STATE_DIR/handoff/ESC (ESC the name's escape; @state_dir NULL: the default):
 * the VM's hand-off directory on the host, mounted into the container.  Newly
 * allocated; NULL without memory. */
char *vj_handoff_dir(const char *state_dir, const char *name);
