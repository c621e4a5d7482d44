# bench/growth_frozen_units.py — numpy check of a design choice in docs/kasmina.md: after a
# widening seed fossilises, do its units keep training with the host (Net2Net) or stay frozen
# (the spec's fossil θ)? Same recipe as the digits growth result (label smoothing 0.1, input
# noise 0.1, Adam 3e-3, 200 epochs, cosine decay over the last 50), 4 → 28 units at epochs
# 50/75/95, each group of units training 8 epochs before it would freeze; six numpy splits.
# Usage: python3 bench/growth_frozen_units.py
import numpy as np, gzip, math, os
d=np.loadtxt(gzip.open(os.path.join(os.path.dirname(__file__), '..', 'Sources', 'Tolaria', 'Resources', 'digits.csv.gz')),delimiter=',')
X=d[:,:64]/16.0; Y=d[:,64].astype(int)
def split(seed):
    r=np.random.RandomState(seed); p=r.permutation(len(X)); n=int(round(len(X)*0.2))
    return X[p[n:]],Y[p[n:]],X[p[:n]],Y[p[:n]]
def run(seed, frozen, adds=((50,8),(75,8),(95,8)), epochs=200, lr=0.003, ls=0.1, noise=0.1, decay=50, seedphase=8):
    Xt,Yt,Xv,Yv=split(seed); r=np.random.RandomState(seed+100)
    h=4; b1=np.sqrt(6/64)
    P={'W1':r.uniform(-b1,b1,(64,h)),'c1':np.zeros(h),'W2':r.uniform(-np.sqrt(6/(h+10)),np.sqrt(6/(h+10)),(h,10)),'c2':np.zeros(10)}
    M={k:np.zeros_like(v) for k,v in P.items()}; V={k:np.zeros_like(v) for k,v in P.items()}; T={k:0 for k in P}
    mask_cols=np.ones(h)  # 1 = trainable hidden unit
    pending=[]  # (freeze_epoch, start, count)
    for ep in range(epochs):
        for (e,k) in adds:
            if ep==e:
                n=P['W1'].shape[1]
                P['W1']=np.concatenate([P['W1'],r.uniform(-b1,b1,(64,k))],1); P['c1']=np.concatenate([P['c1'],np.zeros(k)]); P['W2']=np.concatenate([P['W2'],np.zeros((k,10))],0)
                for D in (M,V):
                    D['W1']=np.concatenate([D['W1'],np.zeros((64,k))],1); D['c1']=np.concatenate([D['c1'],np.zeros(k)]); D['W2']=np.concatenate([D['W2'],np.zeros((k,10))],0)
                mask_cols=np.concatenate([mask_cols,np.ones(k)])
                pending.append((ep+seedphase,n,k))
        for (fe,n,k) in pending:
            if frozen and ep==fe: mask_cols[n:n+k]=0
        l = lr if ep<epochs-decay else lr*0.5*(1+math.cos(math.pi*(ep-(epochs-decay)+0.5)/decay))
        perm=r.permutation(len(Xt))
        for i in range(0,len(perm),32):
            idx=perm[i:i+32]; x=Xt[idx]+noise*r.randn(len(idx),64); y=Yt[idx]; n_=len(idx)
            z=x@P['W1']+P['c1']; a=np.maximum(z,0); lo=a@P['W2']+P['c2']
            lo-=lo.max(1,keepdims=True); pr=np.exp(lo); pr/=pr.sum(1,keepdims=True)
            t=np.full((n_,10),ls/10); t[np.arange(n_),y]+=1-ls; g=(pr-t)/n_
            dz=(g@P['W2'].T)*(z>0)
            G={'W1':x.T@dz*mask_cols,'c1':dz.sum(0)*mask_cols,'W2':(a.T@g)*mask_cols[:,None],'c2':g.sum(0)}
            for k_ in P:
                T[k_]+=1; M[k_]=0.9*M[k_]+0.1*G[k_]; V[k_]=0.999*V[k_]+0.001*G[k_]**2
                P[k_]-=l*(M[k_]/(1-0.9**T[k_]))/(np.sqrt(V[k_]/(1-0.999**T[k_]))+1e-8)
    lo=np.maximum(Xv@P['W1']+P['c1'],0)@P['W2']+P['c2']
    return (lo.argmax(1)==Yv).mean()
for frozen in (False, True):
    res=[run(s,frozen) for s in range(1,7)]
    print('frozen' if frozen else 'trainable', [float(round(a * 100, 1)) for a in res], 'mean', round(float(np.mean(res)) * 100, 2), flush=True)
