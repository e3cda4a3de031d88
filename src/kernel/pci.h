/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A PCI device as sysfs shows it: driver, IOMMU group, BARs. */
#pragma once

#include "vfiojail/vfiojail.h"

struct vj_pci_device {
	char pci[13];          /* canonical address */
	char *driver;          /* bound driver's name, NULL when unbound */
	int iommu_group;       /* -1 when the device has no IOMMU group */
	struct vj_bar *bars;   /* non-empty BARs (resource lines 0..5) */
	size_t n_bars;
};

/* Read <sysfs>/bus/pci/devices/<pci>.  Errors: the device is missing
 * (status 125, step "discover", object the PCI address), unreadable files. */
int vj_pci_device_read(const struct vj_roots *r, const char *pci, struct vj_pci_device *out,
		       struct vj_error **err);
void vj_pci_device_clear(struct vj_pci_device *d);
