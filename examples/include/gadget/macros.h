/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gadget's stand-in for Inspektor Gadget's <gadget/macros.h> (Debian ships no /usr/include/gadget).
 * Written for gadget's tests and examples; the markers it declares have the names and types that
 * ig's `image build --update-metadata` and ig's runtime look for in the object's BTF: global
 * `const void *` variables whose names carry the information, split on "___".
 *
 *   GADGET_PARAM(var)                         gadget_param_<var>
 *   GADGET_TRACER(name, map, struct)          gadget_tracer_<name>___<map>___<struct>
 *   GADGET_SNAPSHOTTER(name, struct, prog…)   gadget_snapshotter_<name>___<struct>___<prog1>[___<prog2>[___<prog3>]]
 *   GADGET_MAPITER(name, map)                 gadget_mapiter_<name>___<map>
 *   GADGET_TOPPER(name, map)                  gadget_topper_<name>___<map>
 */
#ifndef GADGET_STANDIN_MACROS_H
#define GADGET_STANDIN_MACROS_H

#define __gadget_marker __attribute__((unused))

/* The `const volatile` global `var` is a parameter users may set before the program loads. */
#define GADGET_PARAM(var) const void *gadget_param_##var __gadget_marker;

/*
 * A tracer `name`: records of `struct event_type` sent through the ring buffer or perf event
 * array `map_name`. The typed pointer keeps `struct event_type` in the BTF even when the
 * program only ever writes it through a void pointer.
 */
#define GADGET_TRACER(name, map_name, event_type)                                 \
	const void *gadget_tracer_##name##___##map_name##___##event_type __gadget_marker; \
	const struct event_type *__gadget_tracer_struct_##name __gadget_marker;

/* A map iterator `name`: ig reads the hash map `map_name` (struct key, struct value) periodically. */
#define GADGET_MAPITER(name, map_name) const void *gadget_mapiter_##name##___##map_name __gadget_marker;

/* A topper `name` over the hash map `map_name`, whose values are structs (ig's older metadata). */
#define GADGET_TOPPER(name, map_name) const void *gadget_topper_##name##___##map_name __gadget_marker;

/*
 * A snapshotter `name` whose entries are `struct entry_type`, produced by one to three
 * iterator programs (SEC("iter/…")). The count of programs picks the marker's shape.
 */
#define __gadget_snap_1(name, entry_type, p1) \
	const void *gadget_snapshotter_##name##___##entry_type##___##p1 __gadget_marker;
#define __gadget_snap_2(name, entry_type, p1, p2) \
	const void *gadget_snapshotter_##name##___##entry_type##___##p1##___##p2 __gadget_marker;
#define __gadget_snap_3(name, entry_type, p1, p2, p3) \
	const void *gadget_snapshotter_##name##___##entry_type##___##p1##___##p2##___##p3 __gadget_marker;
#define __gadget_pick(_1, _2, _3, which, ...) which
#define GADGET_SNAPSHOTTER(name, entry_type, ...)                                        \
	const struct entry_type *__gadget_snapshotter_struct_##name __gadget_marker;     \
	__gadget_pick(__VA_ARGS__, __gadget_snap_3, __gadget_snap_2, __gadget_snap_1, -) \
	(name, entry_type, __VA_ARGS__)

#endif /* GADGET_STANDIN_MACROS_H */
