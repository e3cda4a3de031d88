// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * gen-insns: turn the clang-compiled device filter (devfilter.bpf.o) into a C
 * header that src/kernel/devfilter.c loads with plain bpf(2) calls.
 *
 *   gen-insns OBJECT > devfilter.insns.h
 *
 * libbpf reads the object (its one program and its one BTF-defined map); libelf
 * finds the relocations, each of which must be a 64-bit immediate load of that
 * map, and the license.  Anything else (a second program or map, a call to a
 * subprogram, global data, a CO-RE relocation) fails the build: the loader in
 * src/kernel/devfilter.c knows how to put one map fd into the program and nothing more.
 *
 * Why not load through libbpf at run time: its object loader uploads BTF and
 * probes kernel features (9 BTF and 4 extra program loads per launch on Linux
 * 6.x) and brings libelf and libz into every vfiojail process; see
 * docs/PERFORMANCE.md.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *object_path;

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "gen-insns: %s: ", object_path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

struct elf_view {
	Elf *elf;
	size_t shstrndx;
};

static Elf_Scn *section_named(const struct elf_view *v, const char *name, size_t *index)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(v->elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, &sh))
			die("cannot read a section header: %s", elf_errmsg(-1));
		n = elf_strptr(v->elf, v->shstrndx, sh.sh_name);
		if (n && strcmp(n, name) == 0) {
			if (index)
				*index = elf_ndxscn(scn);
			return scn;
		}
	}
	return NULL;
}

/* The license string, which the kernel checks for GPL-only helpers. */
static void print_license(const struct elf_view *v)
{
	Elf_Scn *scn = section_named(v, "license", NULL);
	Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;
	const char *s = d ? d->d_buf : NULL;

	if (!s || d->d_size == 0 || memchr(s, '\0', d->d_size) == NULL)
		die("no NUL-terminated license section");
	for (const char *p = s; *p; p++)
		if (*p == '"' || *p == '\\' || *p < 0x20)
			die("the license holds a character this generator does not quote");
	printf("#define VJ_DEVFILTER_LICENSE \"%s\"\n", s);
}

/* Instruction indexes that load the map's address: one per relocation of the
 * program's section, each against the map's symbol in ".maps". */
static size_t map_refs(const struct elf_view *v, size_t prog_shndx, const char *map_name,
		       const struct bpf_insn *insns, size_t n_insns, size_t *refs, size_t max)
{
	Elf_Scn *scn = NULL, *symscn;
	size_t maps_shndx, count = 0, rel_sections = 0;
	GElf_Shdr sh;

	if (!section_named(v, ".maps", &maps_shndx))
		die("no .maps section");
	while ((scn = elf_nextscn(v->elf, scn))) {
		Elf_Data *rel, *syms;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh))
			die("cannot read a section header: %s", elf_errmsg(-1));
		if (sh.sh_type == SHT_RELA)
			die("RELA relocations are not expected in a BPF object");
		if (sh.sh_type != SHT_REL || sh.sh_info != prog_shndx)
			continue;
		rel_sections++;
		symscn = elf_getscn(v->elf, sh.sh_link);
		rel = elf_getdata(scn, NULL);
		syms = symscn ? elf_getdata(symscn, NULL) : NULL;
		if (!rel || !syms)
			die("cannot read the relocations");
		n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
		for (i = 0; i < n; i++) {
			GElf_Rel r;
			GElf_Sym sym;
			GElf_Shdr symsh;
			const char *name;
			size_t at;

			if (!gelf_getrel(rel, (int)i, &r) ||
			    !gelf_getsym(syms, (int)GELF_R_SYM(r.r_info), &sym) ||
			    !gelf_getshdr(symscn, &symsh))
				die("cannot read relocation %zu", i);
			name = elf_strptr(v->elf, symsh.sh_link, sym.st_name);
			at = r.r_offset / sizeof(struct bpf_insn);
			if (sym.st_shndx != maps_shndx || !name || strcmp(name, map_name) != 0)
				die("relocation %zu refers to %s, not to the map %s", i,
				    name ? name : "(unnamed)", map_name);
			if (r.r_offset % sizeof(struct bpf_insn) || at + 1 >= n_insns ||
			    insns[at].code != (BPF_LD | BPF_IMM | BPF_DW) || insns[at].src_reg != 0 ||
			    insns[at].imm != 0)
				die("relocation %zu is not a 64-bit immediate load", i);
			if (count == max)
				die("more than %zu map references", max);
			refs[count++] = at;
		}
	}
	if (rel_sections > 1)
		die("more than one relocation section for the program");
	return count;
}

static void print_insns(const struct bpf_insn *insns, size_t n)
{
	printf("static const struct bpf_insn vj_devfilter_insns[%zu] = {\n", n);
	for (size_t i = 0; i < n; i++)
		printf("\t{ .code = 0x%02x, .dst_reg = %u, .src_reg = %u, .off = %d, .imm = %d },\n",
		       insns[i].code, insns[i].dst_reg, insns[i].src_reg, insns[i].off, insns[i].imm);
	printf("};\n");
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;
	const struct bpf_insn *insns;
	struct elf_view v = { 0 };
	size_t n_insns, refs[64], n_refs, prog_shndx;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: gen-insns OBJECT > HEADER\n");
		return 2;
	}
	object_path = argv[1];
	obj = bpf_object__open_file(object_path, NULL);
	if (!obj)
		die("libbpf cannot open it: %s", strerror(errno));
	prog = bpf_object__next_program(obj, NULL);
	map = bpf_object__next_map(obj, NULL);
	if (!prog || bpf_object__next_program(obj, prog))
		die("want exactly one program");
	if (!map || bpf_object__next_map(obj, map))
		die("want exactly one map (global data makes more)");
	if (bpf_program__type(prog) != BPF_PROG_TYPE_CGROUP_DEVICE ||
	    bpf_program__expected_attach_type(prog) != BPF_CGROUP_DEVICE)
		die("the program is not a cgroup device program");
	insns = bpf_program__insns(prog);
	n_insns = bpf_program__insn_cnt(prog);

	if (elf_version(EV_CURRENT) == EV_NONE)
		die("libelf is too old");
	fd = open(object_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s", strerror(errno));
	v.elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!v.elf || elf_getshdrstrndx(v.elf, &v.shstrndx) < 0)
		die("not an ELF object: %s", elf_errmsg(-1));
	if (!section_named(&v, bpf_program__section_name(prog), &prog_shndx))
		die("no section %s", bpf_program__section_name(prog));
	n_refs = map_refs(&v, prog_shndx, bpf_map__name(map), insns, n_insns, refs,
			  sizeof(refs) / sizeof(refs[0]));
	if (n_refs == 0)
		die("the program never refers to its map");

	printf("/* Generated by bpf/gen-insns from %s: do not edit. */\n", "devfilter.bpf.o");
	printf("#pragma once\n#include <linux/bpf.h>\n\n");
	printf("#define VJ_DEVFILTER_PROG_NAME \"%s\"\n", bpf_program__name(prog));
	print_license(&v);
	printf("#define VJ_DEVFILTER_MAP_NAME \"%s\"\n", bpf_map__name(map));
	printf("#define VJ_DEVFILTER_MAP_TYPE %u\n", (unsigned)bpf_map__type(map));
	printf("#define VJ_DEVFILTER_MAP_FLAGS %uu\n", bpf_map__map_flags(map));
	printf("#define VJ_DEVFILTER_MAP_KEY_SIZE %u\n", bpf_map__key_size(map));
	printf("#define VJ_DEVFILTER_MAP_VALUE_SIZE %u\n\n", bpf_map__value_size(map));
	print_insns(insns, n_insns);
	printf("\n/* Instructions that load the map: the loader puts the map's fd there. */\n");
	printf("static const unsigned vj_devfilter_map_refs[%zu] = {", n_refs);
	for (size_t i = 0; i < n_refs; i++)
		printf("%s%zu", i ? ", " : " ", refs[i]);
	printf(" };\n");
	elf_end(v.elf);
	close(fd);
	bpf_object__close(obj);
	return ferror(stdout) || fflush(stdout) ? 1 : 0;
}
