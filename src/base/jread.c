/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "jread.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

json_object *vj_jr_member(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

int vj_jr_str(json_object *o, const char *key, bool absolute, char **out)
{
	json_object *v = vj_jr_member(o, key);

	*out = NULL;
	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	if (absolute && json_object_get_string(v)[0] != '/')
		return -1;
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : -1;
}

int vj_jr_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_object *v = vj_jr_member(o, key);

	if (!v || !json_object_is_type(v, json_type_int))
		return -1;
	errno = 0;
	*out = json_object_get_int64(v);
	return errno == 0 && *out >= min && *out <= max ? 0 : -1;
}

int vj_jr_flag(json_object *o, const char *key, bool *out)
{
	json_object *v = vj_jr_member(o, key);

	*out = false;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -1;
	*out = json_object_get_boolean(v);
	return 0;
}
