/* a driver this config does not build */
int unused_driver(void)
{
	return 7;
}
