/* version.h - the coffer version (printed by --version, recorded in evidence reports). */
#ifndef COF_VERSION_H
#define COF_VERSION_H

#define COF_VERSION "0.2.0"

#endif
