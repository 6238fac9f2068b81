#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){
  int sizes[][3]={{10,784,30},{10,30,10},{128,784,1000},{256,256,256},{512,512,512},{1024,1024,1024}};
  for(int s=0;s<6;s++){int m=sizes[s][0],k=sizes[s][1],n=sizes[s][2];
    float*a=malloc(4L*m*k),*b=malloc(4L*k*n),*c=malloc(4L*m*n);
    for(long i=0;i<(long)m*k;i++)a[i]=(i%7)*0.1f; for(long i=0;i<(long)k*n;i++)b[i]=(i%5)*0.1f;
    double flop=2.0*m*n*k; long reps=(long)(2e9/flop)+1; 
    cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,m,n,k,1,a,k,b,n,0,c,n);
    double best=1e9; for(int r=0;r<3;r++){double t=now(); for(long i=0;i<reps;i++) cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,m,n,k,1,a,k,b,n,0,c,n); t=(now()-t)/reps; if(t<best)best=t;}
    printf("%dx%dx%d %.1f GFLOP/s\n",m,k,n,flop/best*1e-9); free(a);free(b);free(c);}
}
