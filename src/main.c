/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfiojail/vfiojail.h"
int main(void) { return 0; }
