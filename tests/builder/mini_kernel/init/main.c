#include <stdio.h>
#include "lib.h"

int main(void)
{
	printf("%d %d\n", lib_value(), CONFIG_ANSWER);
	return 0;
}
