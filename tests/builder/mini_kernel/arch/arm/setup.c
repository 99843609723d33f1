/* another architecture */
int arm_setup(void)
{
	return 0;
}
