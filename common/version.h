/* version.h - the one place the release version is written. */
#ifndef BENCHFS_VERSION_H
#define BENCHFS_VERSION_H
#define BENCHFS_VERSION "0.1.0"
#endif
