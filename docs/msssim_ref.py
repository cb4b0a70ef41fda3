# Reference values for the MS-SSIM / SSIM / IoU / MSE tests of medzip-train
# (crates/medzip-train/src/metrics.rs). SSIM is cross-checked against
# scikit-image; MS-SSIM follows Wang et al. 2003 as TensorFlow computes it.
# Run: pip install scikit-image && python3 docs/msssim_ref.py
import numpy as np
from scipy.ndimage import convolve
from skimage.metrics import structural_similarity
H=W=192
i,j=np.mgrid[0:H,0:W].astype(np.float64)
x=0.5+0.4*np.sin(i/9.0)*np.cos(j/13.0)
y=np.clip(x+0.05*np.sin(i*j/50.0),0,1)
g=np.exp(-((np.arange(11)-5.0)**2)/(2*1.5**2)); g/=g.sum(); win=np.outer(g,g)
def filt(a):  # valid 11x11 correlation
    out=np.zeros((a.shape[0]-10,a.shape[1]-10))
    for u in range(11):
        for v in range(11):
            out+=win[u,v]*a[u:u+out.shape[0],v:v+out.shape[1]]
    return out
C1,C2=0.01**2,0.03**2
def terms(a,b):
    ma,mb=filt(a),filt(b)
    saa=filt(a*a)-ma*ma; sbb=filt(b*b)-mb*mb; sab=filt(a*b)-ma*mb
    l=(2*ma*mb+C1)/(ma*ma+mb*mb+C1); cs=(2*sab+C2)/(saa+sbb+C2)
    return (l*cs).mean(), cs.mean()
wts=[0.0448,0.2856,0.3001,0.2363,0.1333]
a,b=x,y; val=1.0
for k,w in enumerate(wts):
    s,cs=terms(a,b)
    t = s if k==4 else cs
    val*=max(t,0)**w
    if k<4:
        a=(a[0::2,0::2]+a[1::2,0::2]+a[0::2,1::2]+a[1::2,1::2])/4
        b=(b[0::2,0::2]+b[1::2,0::2]+b[0::2,1::2]+b[1::2,1::2])/4
ss=structural_similarity(x,y,gaussian_weights=True,sigma=1.5,use_sample_covariance=False,data_range=1.0)
print("ssim_skimage", ss, "ssim_ours_numpy", terms(x,y)[0])
print("msssim_numpy", val)
print("iou", (x*y).sum()/((x*x).sum()+(y*y).sum()-(x*y).sum()))
print("mse", ((x-y)**2).mean())
