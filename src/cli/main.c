#include "agentrec.h"
int main(void) { return 0; }
