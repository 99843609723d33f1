/* tests/headertest.c - links the generated one-header-per-file units (see CMakeLists). */
int main(void)
{
	return 0;
}
