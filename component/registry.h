/*
 * registry.h: test hook of the component registry. registry_find(),
 * registry_all() and component_kind_name() are declared in component.h.
 */
#ifndef PROFCOL_REGISTRY_H
#define PROFCOL_REGISTRY_H

#include <stddef.h>

struct component_factory;

/*
 * For tests and fuzz targets only: makes the n factories in f (borrowed; they
 * must outlive their use) visible to registry_find() and registry_all(),
 * after the built-in ones, replacing any set before. NULL / 0 removes them.
 * Not thread-safe: call before anything reads the registry.
 */
void registry_set_extra(const struct component_factory *const *f, size_t n);

#endif
