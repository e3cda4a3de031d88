/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A PCI device as sysfs shows it: driver, IOMMU group, BARs. */
#include "pci.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "sysfs.h"
#include "quote.h"
#include "util.h"

#define RESOURCE_MAX_BYTES (64 * 1024)
#define PCI_STD_BARS 6

/* "dddd:bb:ss.f" in hex, as the kernel names devices on the PCI bus. */
static bool pci_name_ok(const char *pci)
{
	static const char shape[] = "xxxx:xx:xx.x";
	size_t i;

	if (!pci || strlen(pci) != sizeof(shape) - 1)
		return false;
	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'x' ? !isxdigit((unsigned char)pci[i]) : pci[i] != shape[i])
			return false;
	}
	return true;
}

static char *device_path(const struct vj_roots *r, const char *pci, const char *file)
{
	_cleanup_free_ char *rel = file ? vj_strdupf("bus/pci/devices/%s/%s", pci, file)
					: vj_strdupf("bus/pci/devices/%s", pci);
	return rel ? vj_path_join(vj_root_sysfs(r), rel) : NULL;
}

static int check_exists(const struct vj_roots *r, const char *pci, struct vj_error **err)
{
	_cleanup_free_ char *path = device_path(r, pci, NULL);
	struct stat st;

	if (!path)
		return vj_err_sys(err, "discover", pci, ENOMEM, NULL, "out of memory");
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
	}
	if (errno == ENOENT || errno == ENOTDIR)
		return vj_err_sys(err, "discover", pci, ENOENT, "check the address with lspci -D",
				  "no such PCI device");
	return vj_err_sys(err, "discover", path, errno, NULL, "cannot stat the PCI device %s",
			  pci);
}

static int read_driver(const struct vj_roots *r, const char *pci, char **driver,
		       struct vj_error **err)
{
	_cleanup_free_ char *path = device_path(r, pci, "driver");
	int ret;

	if (!path)
		return vj_err_sys(err, "discover", pci, ENOMEM, NULL, "out of memory");
	ret = vj_readlink_base(path, driver);
	if (ret == -ENOENT) {
		*driver = NULL;
		return 0;
	}
	if (ret < 0)
		return vj_err_sys(err, "discover", path, -ret, NULL,
				  "cannot read the driver link of %s", pci);
	return 0;
}

static int read_iommu_group(const struct vj_roots *r, const char *pci, int *group,
			    struct vj_error **err)
{
	_cleanup_free_ char *path = device_path(r, pci, "iommu_group");
	_cleanup_free_ char *base = NULL;
	uint64_t v;
	int ret;

	if (!path)
		return vj_err_sys(err, "discover", pci, ENOMEM, NULL, "out of memory");
	ret = vj_readlink_base(path, &base);
	if (ret == -ENOENT) {
		*group = -1;
		return 0;
	}
	if (ret < 0)
		return vj_err_sys(err, "discover", path, -ret, NULL,
				  "cannot read the iommu_group link of %s", pci);
	if (vj_parse_u64(base, &v) < 0 || v > INT_MAX) {
		char q[VJ_QUOTE_MAX];
		return vj_err_sys(err, "discover", path, EINVAL, NULL,
				  "iommu_group link of %s points to %s, not a group number", pci,
				  vj_quote(base, q));
	}
	*group = (int)v;
	return 0;
}

/* "0x" and 1..16 hex digits, up to @end; the kernel prints "0x%016llx". */
static int parse_hex_field(const char *s, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = (size_t)(end - s);

	if (n < 3 || n > 18 || s[0] != '0' || s[1] != 'x')
		return -EINVAL;
	for (s += 2; s < end; s++) {
		int c = (unsigned char)*s;
		if (!isxdigit(c))
			return -EINVAL;
		v = v << 4 | (uint64_t)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
	}
	*out = v;
	return 0;
}

/* One resource line: "START END FLAGS", single spaces, nothing else. */
static int parse_resource_line(const char *line, const char *eol, uint64_t v[3])
{
	const char *p = line;
	int i;

	for (i = 0; i < 3; i++) {
		const char *sep = i < 2 ? memchr(p, ' ', (size_t)(eol - p)) : eol;
		if (!sep || parse_hex_field(p, sep, &v[i]) < 0)
			return -EINVAL;
		p = sep + 1;
	}
	if (v[1] != 0 && v[1] < v[0])
		return -EINVAL;
	return 0;
}

static int add_bar(struct vj_pci_device *d, unsigned index, uint64_t start, uint64_t end)
{
	struct vj_bar *bar;

	if (end == 0)
		return 0; /* unused resource */
	if (start == 0 && end == UINT64_MAX)
		return -ERANGE; /* the size would not fit in 64 bits */
	bar = VJ_PUSH(d->bars, d->n_bars);
	if (!bar)
		return -ENOMEM;
	bar->index = index;
	bar->size = end - start + 1;
	return 0;
}

static int parse_resources(struct vj_pci_device *d, const char *text, const char *path,
			   struct vj_error **err)
{
	const char *line = text;
	unsigned lineno;

	for (lineno = 0; *line; lineno++) {
		const char *eol = strchrnul(line, '\n');
		uint64_t v[3];

		if (parse_resource_line(line, eol, v) < 0) {
			char shown[81], q[VJ_QUOTE_MAX];
			snprintf(shown, sizeof(shown), "%.*s", (int)(eol - line > 80 ? 80 : eol - line), line);
			return vj_err_sys(err, "discover", path, EINVAL, NULL,
					  "line %u of %s is not \"0xSTART 0xEND 0xFLAGS\": %s",
					  lineno + 1, path, vj_quote(shown, q));
		}
		if (lineno < PCI_STD_BARS) {
			int ret = add_bar(d, lineno, v[0], v[1]);
			if (ret < 0)
				return vj_err_sys(err, "discover", path, -ret, NULL,
						  "cannot record BAR %u of %s (line %u of %s)",
						  lineno, d->pci, lineno + 1, path);
		}
		line = *eol ? eol + 1 : eol;
	}
	return 0;
}

static int read_bars(const struct vj_roots *r, struct vj_pci_device *d, struct vj_error **err)
{
	_cleanup_free_ char *path = device_path(r, d->pci, "resource");
	_cleanup_free_ char *text = NULL;
	int ret;

	if (!path)
		return vj_err_sys(err, "discover", d->pci, ENOMEM, NULL, "out of memory");
	ret = vj_read_file(path, RESOURCE_MAX_BYTES, &text);
	if (ret == -EFBIG)
		return vj_err_sys(err, "discover", path, EFBIG, NULL,
				  "%s is larger than %d KiB, not a PCI resource file", path,
				  RESOURCE_MAX_BYTES / 1024);
	if (ret == -EINVAL)
		return vj_err_sys(err, "discover", path, 0, NULL,
				  "%s is not a regular file, not a PCI resource file", path);
	if (ret < 0)
		return vj_err_sys(err, "discover", path, -ret, NULL,
				  "cannot read the resource file %s of %s", path, d->pci);
	return parse_resources(d, text, path, err);
}

int vj_pci_device_read(const struct vj_roots *r, const char *pci, struct vj_pci_device *out,
		       struct vj_error **err)
{
	struct vj_pci_device d = { .iommu_group = -1 };

	if (!pci_name_ok(pci))
		return vj_err_sys(err, "discover", pci ? pci : "(null)", EINVAL, NULL,
				  "\"%s\" is not a canonical PCI address dddd:bb:ss.f",
				  pci ? pci : "(null)");
	memcpy(d.pci, pci, sizeof(d.pci));
	if (check_exists(r, pci, err) < 0 || read_driver(r, pci, &d.driver, err) < 0 ||
	    read_iommu_group(r, pci, &d.iommu_group, err) < 0 || read_bars(r, &d, err) < 0) {
		vj_pci_device_clear(&d);
		return -1;
	}
	*out = d;
	return 0;
}

void vj_pci_device_clear(struct vj_pci_device *d)
{
	if (!d)
		return;
	free(d->driver);
	free(d->bars);
	d->driver = NULL;
	d->bars = NULL;
	d->n_bars = 0;
	d->iommu_group = -1;
}
