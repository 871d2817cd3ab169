/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small stand-in for Inspektor Gadget's <gadget/macros.h>, written for gadget's examples
 * (Debian has no /usr/include/gadget). The markers have the names and types ig looks for
 * (`const void *` globals), so `gadget image build --update-metadata` and ig's runtime find
 * the tracer and the parameters in the object's BTF.
 */
#ifndef GADGET_EXAMPLES_MACROS_H
#define GADGET_EXAMPLES_MACROS_H

/* A tracer `name` sending `struct event_type` records through the ring buffer `map_name`. */
#define GADGET_TRACER(name, map_name, event_type)                          \
	const void *gadget_tracer_##name##___##map_name##___##event_type   \
		__attribute__((unused));                                    \
	const struct event_type *__gadget_tracer_type_##name                \
		__attribute__((unused));

/* Marks the `const volatile` global `name` as a parameter users may set. */
#define GADGET_PARAM(name) const void *gadget_param_##name __attribute__((unused));

#endif
