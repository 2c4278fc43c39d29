import ctypes as C,random,time,os
L=C.CDLL(os.environ.get('LIBK','/tmp/libk.so'));F=C.c_float;P=C.POINTER(F);Z=C.c_size_t
for f in(L.fwd,L.bwd):f.argtypes=[C.c_int,P,Z,Z,P,Z,P]
Q=int(os.environ.get('Q','512'))
def arr(n,s):
 r=random.Random(s);return(F*n)(*[r.uniform(-1,1)for _ in range(n)])
def run(f,p,w,u,k,x,b,n):
 y=(F*n)();f(p,w,u,k,x,b,y);return y
bad=cnt=0
for u,k in[(1,1),(7,23),(13,25),(37,1100),(5,48),(17,40),(29,63),(100,333)]:
 w=arr(u*k,u)
 for b in[1,2,5,8,9,12,13,16,17,24,25,31,32,33,48,49,64,65,70,130]:
  x=arr(b*k,b);g=arr(b*u,b+1)
  for f,xi,n in((L.fwd,x,b*u),(L.bwd,g,b*k)):
   a=bytes(run(f,Q,w,u,k,xi,b,n));c=bytes(run(f,2,w,u,k,xi,b,n));cnt+=1
   if a!=c:bad+=1;print('DIFF',f,u,k,b)
u,k,b=37,1100,5;w=arr(u*k,1);x=arr(b*k,2);y=run(L.fwd,Q,w,u,k,x,b,b*u)
e=max(abs(y[i*u+j]-sum(x[i*k+t]*w[j*k+t]for t in range(k)))for i in range(b)for j in range(u))
print('products',cnt,'AVX-512 vs AVX2 bitwise mismatches',bad,'fwd max err vs python',e)
for u,k,bs in[(925,50880,[1,4,8,32,64]),(960,480,[53,212,424,1696]),(919,925,[8,32,64])]:
 w=(F*(u*k))(*range(0));xs=(F*(max(bs)*max(u,k)))()
 for b in bs:
  o=[]
  for f in(L.fwd,L.bwd):
   for p in(Q,2):
    y=(F*(b*max(u,k)))();ts=[]
    for r in range(5):t=time.perf_counter();f(p,w,u,k,xs,b,y);ts.append(time.perf_counter()-t)
    ts.sort();o.append('%s/%d %.1f(%.1f-%.1f)'%('fwd'if f==L.fwd else'bwd',p,2*u*k*b/ts[0]/1e9,2*u*k*b/ts[-1]/1e9,2*u*k*b/ts[2]/1e9))
  print(u,k,'rows',b,'GFLOP/s best(worst-median):',' '.join(o))
