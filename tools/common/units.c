/*
 * units.c - parsing and printing human units for the command-line tool.
 */
#include "units.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int parse_size(const char *text, uint64_t *bytes)
{
	char *end;
	if (!text || !*text || *text == '-')
		return -1;
	double v = strtod(text, &end);
	if (end == text || !(v >= 0) || !isfinite(v))
		return -1;
	while (*end == ' ')
		end++;
	double mult = 1;
	switch (tolower((unsigned char)*end)) {
	case '\0':
		break;
	case 'b':
		end++;
		break;
	case 'k':
		mult = 1024.0, end++;
		break;
	case 'm':
		mult = 1024.0 * 1024, end++;
		break;
	case 'g':
		mult = 1024.0 * 1024 * 1024, end++;
		break;
	case 't':
		mult = 1024.0 * 1024 * 1024 * 1024, end++;
		break;
	default:
		return -1;
	}
	if (mult > 1 && (strcasecmp(end, "ib") == 0 || strcasecmp(end, "b") == 0))
		end += strlen(end);
	if (*end)
		return -1;
	double b = v * mult;
	if (b > 1.8e19 || b != floor(b))
		return -1;
	*bytes = (uint64_t)b;
	return 0;
}

/* The finite number text starts with, in *v, and where it ends; -1 if none. */
static int leading_number(const char *text, double *v, char **end)
{
	if (!text || !*text)
		return -1;
	*v = strtod(text, end);
	return *end == text || !isfinite(*v) ? -1 : 0;
}

int parse_seconds(const char *text, double *seconds)
{
	char *end;
	double v;
	if (leading_number(text, &v, &end) < 0 || !(v > 0))
		return -1;
	if (strcmp(end, "ms") == 0)
		v /= 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		v *= 60;
	else if (*end && strcmp(end, "s") != 0)
		return -1;
	*seconds = v;
	return 0;
}

int parse_fraction(const char *text, double *fraction)
{
	char *end;
	double v;
	if (leading_number(text, &v, &end) < 0)
		return -1;
	if (strcmp(end, "%") == 0)
		v /= 100;
	else if (*end)
		return -1;
	if (v < 0 || v > 1)
		return -1;
	*fraction = v;
	return 0;
}

const char *format_size(uint64_t bytes, char *buf, int len)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024 && u < 4)
		v /= 1024, u++;
	if (u == 0)
		snprintf(buf, (size_t)len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, (size_t)len, "%.1f %s", v, unit[u]);
	return buf;
}
