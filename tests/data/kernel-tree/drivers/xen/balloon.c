/*
 * balloon.c
 *
 * Xen balloon driver - enables returning/claiming memory to/from Xen.
 * Sample file for patchsync's tests: a shortened stand-in.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <xen/balloon.h>

static unsigned long current_target(void)
{
	unsigned long target = balloon_stats.target_pages;

	target = min(target,
		     balloon_stats.current_pages +
		     balloon_stats.balloon_low +
		     balloon_stats.balloon_high);

	return target;
}

static void balloon_process(struct work_struct *work)
{
	long credit = current_target() - balloon_stats.current_pages;

	if (credit > 0)
		increase_reservation(credit);
	if (credit < 0)
		decrease_reservation(-credit);
}

MODULE_LICENSE("GPL");
