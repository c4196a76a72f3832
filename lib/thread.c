#include "lib/thread.h"

int thread_start(pthread_t *thread, size_t stack_size, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    int e = pthread_attr_init(&attr);
    if (e != 0)
        return e;
    e = pthread_attr_setstacksize(&attr, stack_size);
    if (e == 0)
        e = pthread_create(thread, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return e;
}
