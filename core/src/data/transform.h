/* Internal to the data sets: pixel helpers shared by the generic loaders, the geometry variants and
 * the contact sheet. Images are planar (c × h × w floats), as in struct ferry_dataset. */
#ifndef FERRY_DATA_TRANSFORM_H
#define FERRY_DATA_TRANSFORM_H

#include "data_internal.h"

/* Luminance (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B); exactly r for a grey pixel (r = g = b),
 * so that replicating a grey image to RGB and back is the identity. */
float ferry_luminance(float r, float g, float b);

/* Copies hw pixels from src (sc channel planes) to dst (dc planes). Supported: sc == dc (copy),
 * 1 -> 3 (replication), 3 -> 1 (luminance). Returns false for any other pair. */
bool ferry_convert_channels(const float *src, int sc, float *dst, int dc, size_t hw);

/* Bilinear resize of c planes from sh×sw to dh×dw (stb_image_resize, clamped edges: per axis the
 * triangle filter, or the box filter (area average) for shrinking by 1.15 or more; a plain copy when
 * the size is unchanged). what names the image in the error message. */
ferry_status ferry_resize_bilinear(const float *src, int c, int sh, int sw, float *dst, int dh, int dw,
                                   const char *what);

/* The last path component of path with any of the given suffixes (NULL-terminated list, tried in
 * order, each at most once) removed; "data" if nothing is left. */
void ferry_path_stem(const char *path, const char *const *suffixes, char *out, size_t out_size);

#endif
