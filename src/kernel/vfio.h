/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VFIO as sysfs shows it: drivers, group viability, cdev and group nodes. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "vfiojail/vfiojail.h"

/* vfio-pci itself, or a vfio variant driver (mlx5_vfio_pci, ...). */
bool vj_vfio_driver_is_vfio(const char *driver);
/* Drivers the kernel lets share a group with a VFIO user (driver_managed_dma):
 * pci-stub and pcieport. */
bool vj_vfio_driver_is_dma_managed(const char *driver);

/* Every device of IOMMU group @group is bound to a vfio driver, a
 * driver_managed_dma driver, or none.  On failure the error names the
 * offending device and its driver and the hint says how to fix it. */
int vj_vfio_group_check_viable(const struct vj_roots *r, int group, const char *for_pci,
			       struct vj_error **err);

/* The PCI addresses in IOMMU group @group, sorted; free each and the array. */
int vj_vfio_group_members(const struct vj_roots *r, int group, char ***addrs, size_t *n,
			  struct vj_error **err);

/* iommufd backend: <sysfs>/bus/pci/devices/<pci>/vfio-dev/vfioN/dev.
 * Fills "vfioN" and MAJ:MIN.  Missing vfio-dev: error "this kernel has no
 * VFIO cdev; use backend legacy". */
int vj_vfio_cdev(const struct vj_roots *r, const char *pci, char **name, uint32_t *major,
		 uint32_t *minor, struct vj_error **err);

/* legacy backend: <sysfs>/class/vfio/<group>/dev -> MAJ:MIN of /dev/vfio/<group>. */
int vj_vfio_group_devnum(const struct vj_roots *r, int group, uint32_t *major, uint32_t *minor,
			 struct vj_error **err);
