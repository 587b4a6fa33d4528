// Placeholder; tests arrive in a following change.
#include <gtest/gtest.h>
