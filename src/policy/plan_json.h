/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan's one JSON codec: `plan --json` prints what vj_plan_json_write
 * writes, and the state file keeps the plan in the same schema, brief, read
 * back by vj_plan_json_read.  docs/vfiojail.1 (plan --json) documents the
 * schema; the state is vfiojail's own.
 * The plan's one field table (plan_fields.h) drives the writer and the reader,
 * as it drives the plan's free and copy and the table `plan` prints.
 *
 *   {"name", "uid", "gid", "groups": [gid...], "arch",
 *    "nodes": [{"path", "type": "c"|"b", "major", "minor", "access": "rwm",
 *               "uid", "gid", "mode": "0660", "reason", "host_path", "copy_acl"}],
 *    "rules": [{"type", "major", "minor" (a number or "*"), "access", "reason"}],
 *    "iommufd": [{"id", "path", "major", "minor", "accounting", "devices"}],
 *    "hostdevs": [{"pci", "backend", "driver", "iommu_group", "node", "iommufd",
 *                  "fd" (the id it is handed as, or null; absent in older states),
 *                  "major", "minor" (the node's device number; absent in older states),
 *                  "bars": [{"index", "size"}]}],
 *    "memlock": {"bytes": N | -1 (unlimited) | null (unchanged), "terms": [...]},
 *    "cgroup", "warnings": [...]}
 */
#pragma once

#include "jbuf.h"
#include "vfiojail/vfiojail.h"

/* What the state keeps: the schema without what only a reader of `plan` needs
 * (reasons, memlock terms, warnings), which a re-plan derives again; and each
 * list of a record of single values (vj_record_rows: nodes, rules, iommufd,
 * bars) as {"columns": [key...], "rows": [[value...]...]} instead of objects,
 * the columns the record's fields in the table's order (state version 5). */
#define VJ_PLAN_JSON_BRIEF 1u

void vj_plan_json_write(struct vj_jbuf *b, const struct vj_plan *p, unsigned flags);

struct json_object;
/* A plan from its JSON (as written above, a list as objects or as rows, whose
 * columns are mapped by name: an unknown or doubled column, a missing required
 * one or a row of another length is malformed; also the older state files'
 * plan, with numeric access and mode and memlock as {unchanged, unlimited, bytes}).
 * 0 and *out, or -1 (errno EINVAL for a malformed plan, ENOMEM). */
int vj_plan_json_read(struct json_object *o, struct vj_plan **out);
