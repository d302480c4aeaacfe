// attnscope command line (placeholder until the CLI issue lands).
int main() { return 0; }
