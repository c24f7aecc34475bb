/******************************************************************************
 * features.h
 *
 * Query the features reported by Xen.
 * Sample file for patchsync's tests.
 */
#ifndef __XEN_FEATURES_H__
#define __XEN_FEATURES_H__

#include <xen/interface/features.h>

void xen_setup_features(void);

extern u8 xen_features[XENFEAT_NR_SUBMAPS * 32];

static inline int xen_feature(int flag)
{
	return xen_features[flag];
}

#endif /* __XEN_FEATURES_H__ */
