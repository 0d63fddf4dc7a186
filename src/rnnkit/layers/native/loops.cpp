// Whole-sequence forward and backward loops on CPU for what torch has no kernel for: the LSTM
// family's peephole and layer-norm variants (the plain LSTM for comparison), and the minGRU /
// minLSTM recurrence with its gate arithmetic fused into the scan.
//
// Why C++: at batch 1 each time step is ~1 GEMV plus ~10 small elementwise ops; from Python every
// op costs ~8-10 us of dispatch, which is most of a step. Here a step is ONE ATen GEMM/GEMV call
// plus ONE fused pass over the gate row (vectorised with ATen's own Vectorized<T>, i.e. the SLEEF
// exp/tanh torch uses), so the time goes into arithmetic instead of dispatch.
//
// Contract (the Python side, rnnkit/layers/fastlstm.py, prepares everything and keeps autograd):
// gate order inside is (o, i, f, g); all tensors contiguous, one dtype (float or double), CPU;
// xp (T, B, 4H) already holds the input projection (+ biases / LN_ih); w_hh (4H, H).
// The backward takes the per-step output gradients with dh_T folded in (dy), the optional dc_T
// injections for variable lengths (inj, (T, B, H), or an empty tensor), and returns the gradients
// of every gate pre-activation; dW_hh / dW_ih come from one GEMM over all steps in Python.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include <cmath>
#include <tuple>
#include <vector>

namespace {

using at::Tensor;

template <typename T>
using Vec = at::vec::Vectorized<T>;

// Calls f(k, n) over [0, len) in whole vectors and one partial tail (n lanes).
template <typename T, typename F>
inline void for_vec(int64_t len, const F& f) {
  constexpr int64_t V = Vec<T>::size();
  int64_t k = 0;
  for (; k + V <= len; k += V) f(k, V);
  if (k < len) f(k, len - k);
}

template <typename T>
inline Vec<T> ld(const T* p, int64_t k, int64_t n) {
  return n == Vec<T>::size() ? Vec<T>::loadu(p + k) : Vec<T>::loadu(p + k, n);
}

template <typename T>
inline void st(const Vec<T>& v, T* p, int64_t k, int64_t n) {
  if (n == Vec<T>::size()) v.store(p + k); else v.store(p + k, n);
}

// Lanes past a partial tail are zeroed so they never enter a sum.
template <typename T>
inline Vec<T> live(const Vec<T>& v, int64_t n) {
  return n == Vec<T>::size() ? v : Vec<T>::set(Vec<T>(T(0)), v, n);
}

template <typename T>
inline T hsum(const Vec<T>& v) {
  T buf[Vec<T>::size()];
  v.store(buf);
  T s = 0;
  for (int64_t j = 0; j < Vec<T>::size(); ++j) s += buf[j];
  return s;
}

template <typename T>
inline Vec<T> sigm(const Vec<T>& x) {
  const Vec<T> one(T(1));
  return one / (one + x.neg().exp());  // as torch's CPU sigmoid kernel
}

// mean and 1/sqrt(var + eps) of a row (biased variance, two passes as the data are in cache)
template <typename T>
inline std::pair<T, T> moments(const T* x, int64_t n, double eps) {
  Vec<T> acc(T(0));
  for_vec<T>(n, [&](int64_t k, int64_t m) { acc = acc + live(ld(x, k, m), m); });
  const T mean = hsum(acc) / T(n);
  Vec<T> acc2(T(0));
  const Vec<T> vm(mean);
  for_vec<T>(n, [&](int64_t k, int64_t m) {
    Vec<T> d = live(ld(x, k, m) - vm, m);
    acc2 = acc2 + d * d;
  });
  const T var = hsum(acc2) / T(n);
  return {mean, T(1) / std::sqrt(var + T(eps))};
}

// Rows per parallel task: small batches run inline (no thread hand-off per step).
inline int64_t grain(int64_t row) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(row, 1)); }

void check(const Tensor& t, const char* name, const Tensor& like) {
  TORCH_CHECK(t.device().is_cpu(), "rnnkit native LSTM loop: ", name, " must be on the CPU");
  TORCH_CHECK(t.is_contiguous(), "rnnkit native LSTM loop: ", name, " must be contiguous");
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), "rnnkit native LSTM loop: ", name, " has dtype ",
              t.scalar_type(), ", expected ", like.scalar_type());
}

// ------------------------------------------------------------------ plain / peephole LSTM
std::tuple<Tensor, Tensor, Tensor, Tensor> lstm_fwd(const Tensor& xp, const Tensor& h0, const Tensor& c0,
                                                     const Tensor& w_hh, const std::optional<Tensor>& peep_) {
  check(xp, "xp", xp);
  const int64_t T = xp.size(0), B = xp.size(1), G = xp.size(2), H = G / 4;
  const bool has_peep = peep_.has_value() && peep_->defined();
  Tensor peep = has_peep ? peep_->contiguous() : Tensor();
  Tensor hs = at::empty({T + 1, B, H}, xp.options()), cs = at::empty({T + 1, B, H}, xp.options());
  Tensor tcs = at::empty({T, B, H}, xp.options()), gates = at::empty({T, B, G}, xp.options());
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  Tensor wt = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_lstm_fwd", [&] {
    using T_ = scalar_t;
    const T_* pp = has_peep ? peep.data_ptr<T_>() : nullptr;
    for (int64_t t = 0; t < T; ++t) {
      Tensor gt = gates[t];
      at::addmm_out(gt, xp[t], hs[t], wt);
      T_* g_base = gt.data_ptr<T_>();
      const T_* cp_base = cs.data_ptr<T_>() + t * B * H;
      T_* c_base = cs.data_ptr<T_>() + (t + 1) * B * H;
      T_* h_base = hs.data_ptr<T_>() + (t + 1) * B * H;
      T_* tc_base = tcs.data_ptr<T_>() + t * B * H;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          T_* o = g_base + b * G;
          T_ *i = o + H, *f = o + 2 * H, *g = o + 3 * H;
          const T_* cp = cp_base + b * H;
          T_ *c = c_base + b * H, *h = h_base + b * H, *tc = tc_base + b * H;
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vcp = ld(cp, k, n), vi = ld(i, k, n), vf = ld(f, k, n), vo = ld(o, k, n);
            if (pp) {
              vi = vi + ld(pp + H, k, n) * vcp;
              vf = vf + ld(pp + 2 * H, k, n) * vcp;
            }
            vi = sigm(vi);
            vf = sigm(vf);
            Vec<T_> vg = ld(g, k, n).tanh();
            Vec<T_> vc = vf * vcp + vi * vg;
            vo = sigm(pp ? vo + ld(pp, k, n) * vc : vo);
            Vec<T_> vtc = vc.tanh();
            st(vi, i, k, n); st(vf, f, k, n); st(vg, g, k, n); st(vo, o, k, n);
            st(vc, c, k, n); st(vtc, tc, k, n); st(vo * vtc, h, k, n);
          });
        }
      });
    }
  });
  return {hs, cs, tcs, gates};
}

std::tuple<Tensor, Tensor, Tensor> lstm_bwd(const Tensor& dy, const std::optional<Tensor>& inj_,
                                             const Tensor& dcT, const Tensor& w_hh,
                                             const std::optional<Tensor>& peep_, const Tensor& cs,
                                             const Tensor& tcs, const Tensor& gates) {
  check(dy, "dy", dy);
  check(gates, "gates", dy);
  const int64_t T = tcs.size(0), B = tcs.size(1), H = tcs.size(2), G = 4 * H;
  const bool has_inj = inj_.has_value() && inj_->defined();
  const bool has_peep = peep_.has_value() && peep_->defined();
  Tensor inj = has_inj ? inj_->contiguous() : Tensor();
  Tensor peep = has_peep ? peep_->contiguous() : Tensor();
  Tensor dpre = at::empty({T, B, G}, dy.options());
  Tensor dh = at::empty({B, H}, dy.options());
  // carry = the part of dc_t that flows from step t+1 (dc_{t+1} * dc_{t+1}/dc_t)
  Tensor carry = has_inj ? at::zeros({B, H}, dy.options()) : dcT.contiguous().clone();
  Tensor dpeep_rows = at::zeros({B, 3, H}, dy.options());  // per-row sums, reduced at the end
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "rnnkit_lstm_bwd", [&] {
    using T_ = scalar_t;
    const T_* pp = has_peep ? peep.data_ptr<T_>() : nullptr;
    T_* dpp = dpeep_rows.data_ptr<T_>();
    for (int64_t t = T - 1; t >= 0; --t) {
      if (t == T - 1) dh.copy_(dy[t]); else at::addmm_out(dh, dy[t], dpre[t + 1], w_hh);
      const T_* dh_base = dh.data_ptr<T_>();
      const T_* g_base = gates.data_ptr<T_>() + t * B * G;
      const T_* cp_base = cs.data_ptr<T_>() + t * B * H;
      const T_* tc_base = tcs.data_ptr<T_>() + t * B * H;
      const T_* inj_base = has_inj ? inj.data_ptr<T_>() + t * B * H : nullptr;
      T_* dp_base = dpre.data_ptr<T_>() + t * B * G;
      T_* cr_base = carry.data_ptr<T_>();
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const T_* o = g_base + b * G;
          const T_ *i = o + H, *f = o + 2 * H, *g = o + 3 * H;
          const T_ *cp = cp_base + b * H, *c = cp + B * H, *tc = tc_base + b * H, *dhr = dh_base + b * H;
          T_* dpo = dp_base + b * G;
          T_ *dpi = dpo + H, *dpf = dpo + 2 * H, *dpg = dpo + 3 * H, *cr = cr_base + b * H;
          T_* acc = dpp + b * 3 * H;
          const Vec<T_> one(T_(1));
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vo = ld(o, k, n), vi = ld(i, k, n), vf = ld(f, k, n), vg = ld(g, k, n);
            Vec<T_> vtc = ld(tc, k, n), vdh = ld(dhr, k, n), vcp = ld(cp, k, n);
            Vec<T_> A = vtc * vo * (one - vo);
            Vec<T_> K = vo * (one - vtc * vtc);
            if (pp) K = K + A * ld(pp, k, n);
            Vec<T_> dc = ld(cr, k, n) + vdh * K;
            if (inj_base) dc = dc + ld(inj_base + b * H, k, n);
            Vec<T_> Ci = vg * vi * (one - vi), Cf = vcp * vf * (one - vf);
            Vec<T_> dpo_v = vdh * A, dpi_v = dc * Ci, dpf_v = dc * Cf;
            st(dpo_v, dpo, k, n); st(dpi_v, dpi, k, n); st(dpf_v, dpf, k, n);
            st(dc * vi * (one - vg * vg), dpg, k, n);
            Vec<T_> fp = vf;
            if (pp) {
              fp = fp + Ci * ld(pp + H, k, n) + Cf * ld(pp + 2 * H, k, n);
              st(ld(acc, k, n) + dpo_v * ld(c, k, n), acc, k, n);
              st(ld(acc + H, k, n) + dpi_v * vcp, acc + H, k, n);
              st(ld(acc + 2 * H, k, n) + dpf_v * vcp, acc + 2 * H, k, n);
            }
            st(dc * fp, cr, k, n);
          });
        }
      });
    }
  });
  Tensor dpeep = has_peep ? dpeep_rows.sum(0) : at::empty({0}, dy.options());
  return {dpre, carry, dpeep};
}

// ------------------------------------------------------------------ layer-norm LSTM
// gates = xp + g_hh * LN(h W_hh^T) (no bias: it lives in xp), c = f c + i g,
// h = o * tanh(g_c * LN(c) + b_c).
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> lnlstm_fwd(
    const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh, const Tensor& g_hh,
    const Tensor& g_c, const std::optional<Tensor>& b_c_, double eps_hh, double eps_c) {
  check(xp, "xp", xp);
  const int64_t T = xp.size(0), B = xp.size(1), G = xp.size(2), H = G / 4;
  const bool has_bc = b_c_.has_value() && b_c_->defined();
  Tensor ghh = g_hh.contiguous(), gc = g_c.contiguous(), bc = has_bc ? b_c_->contiguous() : Tensor();
  Tensor hs = at::empty({T + 1, B, H}, xp.options()), cs = at::empty({T + 1, B, H}, xp.options());
  Tensor tls = at::empty({T, B, H}, xp.options()), gates = at::empty({T, B, G}, xp.options());
  Tensor zs = at::empty({T, B, G}, xp.options()), stats = at::empty({4, T, B}, xp.options());
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  Tensor wt = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_lnlstm_fwd", [&] {
    using T_ = scalar_t;
    const T_ *pg = ghh.data_ptr<T_>(), *pgc = gc.data_ptr<T_>(), *pbc = has_bc ? bc.data_ptr<T_>() : nullptr;
    T_* sp = stats.data_ptr<T_>();
    for (int64_t t = 0; t < T; ++t) {
      Tensor zt = zs[t];
      at::mm_out(zt, hs[t], wt);
      const T_* z_base = zt.data_ptr<T_>();
      const T_* x_base = xp.data_ptr<T_>() + t * B * G;
      T_* g_base = gates.data_ptr<T_>() + t * B * G;
      const T_* cp_base = cs.data_ptr<T_>() + t * B * H;
      T_* c_base = cs.data_ptr<T_>() + (t + 1) * B * H;
      T_* h_base = hs.data_ptr<T_>() + (t + 1) * B * H;
      T_* tl_base = tls.data_ptr<T_>() + t * B * H;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const T_* z = z_base + b * G;
          const T_* x = x_base + b * G;
          T_* o = g_base + b * G;
          const std::pair<T_, T_> mr = moments(z, G, eps_hh);
          const T_ mz = mr.first, rz = mr.second;
          const Vec<T_> vmz(mz), vrz(rz);
          // sigmoid gates (o, i, f) then tanh gate g: one pass each over the contiguous slices
          for_vec<T_>(3 * H, [&](int64_t k, int64_t n) {
            st(sigm(ld(x, k, n) + ld(pg, k, n) * (ld(z, k, n) - vmz) * vrz), o, k, n);
          });
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            const int64_t kk = 3 * H + k;
            st((ld(x, kk, n) + ld(pg, kk, n) * (ld(z, kk, n) - vmz) * vrz).tanh(), o, kk, n);
          });
          const T_ *i = o + H, *f = o + 2 * H, *g = o + 3 * H, *cp = cp_base + b * H;
          T_ *c = c_base + b * H, *h = h_base + b * H, *tl = tl_base + b * H;
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            st(ld(f, k, n) * ld(cp, k, n) + ld(i, k, n) * ld(g, k, n), c, k, n);
          });
          const std::pair<T_, T_> mrc = moments<T_>(c, H, eps_c);
          const T_ mc = mrc.first, rc = mrc.second;
          const Vec<T_> vmc(mc), vrc(rc);
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> lc = (ld(c, k, n) - vmc) * vrc * ld(pgc, k, n);
            if (pbc) lc = lc + ld(pbc, k, n);
            Vec<T_> vtl = lc.tanh();
            st(vtl, tl, k, n);
            st(ld<T_>(o, k, n) * vtl, h, k, n);
          });
          const int64_t s = t * B + b, TB = T * B;
          sp[s] = mz; sp[TB + s] = rz; sp[2 * TB + s] = mc; sp[3 * TB + s] = rc;
        }
      });
    }
  });
  return {hs, cs, tls, gates, zs, stats};
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> lnlstm_bwd(
    const Tensor& dy, const std::optional<Tensor>& inj_, const Tensor& dcT, const Tensor& w_hh,
    const Tensor& g_hh, const Tensor& g_c, const std::optional<Tensor>& b_c_, const Tensor& cs,
    const Tensor& tls, const Tensor& gates, const Tensor& zs, const Tensor& stats) {
  check(dy, "dy", dy);
  check(gates, "gates", dy);
  const int64_t T = tls.size(0), B = tls.size(1), H = tls.size(2), G = 4 * H;
  const bool has_inj = inj_.has_value() && inj_->defined();
  const bool has_bc = b_c_.has_value() && b_c_->defined();
  Tensor inj = has_inj ? inj_->contiguous() : Tensor();
  Tensor ghh = g_hh.contiguous(), gc = g_c.contiguous();
  Tensor dpre = at::empty({T, B, G}, dy.options()), dz = at::empty({T, B, G}, dy.options());
  Tensor dh = at::empty({B, H}, dy.options());
  Tensor carry = has_inj ? at::zeros({B, H}, dy.options()) : dcT.contiguous().clone();
  // per-row parameter-gradient sums (g_hh | g_c | b_c), reduced over rows at the end
  Tensor acc_rows = at::zeros({B, G + 2 * H}, dy.options());
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "rnnkit_lnlstm_bwd", [&] {
    using T_ = scalar_t;
    const T_ *pg = ghh.data_ptr<T_>(), *pgc = gc.data_ptr<T_>();
    const T_* sp = stats.data_ptr<T_>();
    T_* accp = acc_rows.data_ptr<T_>();
    const int64_t TB = T * B;
    for (int64_t t = T - 1; t >= 0; --t) {
      if (t == T - 1) dh.copy_(dy[t]); else at::addmm_out(dh, dy[t], dz[t + 1], w_hh);
      const T_* dh_base = dh.data_ptr<T_>();
      const T_* g_base = gates.data_ptr<T_>() + t * B * G;
      const T_* z_base = zs.data_ptr<T_>() + t * B * G;
      const T_* cp_base = cs.data_ptr<T_>() + t * B * H;
      const T_* tl_base = tls.data_ptr<T_>() + t * B * H;
      const T_* inj_base = has_inj ? inj.data_ptr<T_>() + t * B * H : nullptr;
      T_* dp_base = dpre.data_ptr<T_>() + t * B * G;
      T_* dz_base = dz.data_ptr<T_>() + t * B * G;
      T_* cr_base = carry.data_ptr<T_>();
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        std::vector<T_> dlc_buf(H);
        T_* dlc = dlc_buf.data();
        const Vec<T_> one(T_(1));
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t s = t * B + b;
          const T_ mz = sp[s], rz = sp[TB + s], mc = sp[2 * TB + s], rc = sp[3 * TB + s];
          const T_* o = g_base + b * G;
          const T_ *i = o + H, *f = o + 2 * H, *g = o + 3 * H, *z = z_base + b * G;
          const T_ *cp = cp_base + b * H, *c = cp + B * H, *tl = tl_base + b * H, *dhr = dh_base + b * H;
          T_ *dpo = dp_base + b * G, *dzr = dz_base + b * G, *cr = cr_base + b * H;
          T_ *a_ghh = accp + b * (G + 2 * H), *a_gc = a_ghh + G, *a_bc = a_gc + H;
          const Vec<T_> vmc(mc), vrc(rc), vmz(mz), vrz(rz);
          // LN_c backward: dlc = dLoss/d(LN_c(c)) = dh * o * (1 - tl^2)
          Vec<T_> s1(T_(0)), s2(T_(0));
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vtl = ld(tl, k, n);
            Vec<T_> d = ld(dhr, k, n) * ld(o, k, n) * (one - vtl * vtl);
            Vec<T_> xh = (ld(c, k, n) - vmc) * vrc;
            st(ld(a_gc, k, n) + d * xh, a_gc, k, n);
            st(ld(a_bc, k, n) + d, a_bc, k, n);
            Vec<T_> dx = d * ld(pgc, k, n);
            st(dx, dlc, k, n);
            s1 = s1 + live(dx, n);
            s2 = s2 + live(dx * xh, n);
          });
          const Vec<T_> m1(hsum(s1) / T_(H)), m2(hsum(s2) / T_(H));
          // dc = LN_c backward + carried part (+ dc_T injection); gate pre-activation gradients
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> xh = (ld(c, k, n) - vmc) * vrc;
            Vec<T_> dc = vrc * (ld<T_>(dlc, k, n) - m1 - xh * m2) + ld<T_>(cr, k, n);
            if (inj_base) dc = dc + ld(inj_base + b * H, k, n);
            Vec<T_> vo = ld(o, k, n), vi = ld(i, k, n), vf = ld(f, k, n), vg = ld(g, k, n);
            st(ld(dhr, k, n) * ld(tl, k, n) * vo * (one - vo), dpo, k, n);
            st(dc * vg * vi * (one - vi), dpo + H, k, n);
            st(dc * ld(cp, k, n) * vf * (one - vf), dpo + 2 * H, k, n);
            st(dc * vi * (one - vg * vg), dpo + 3 * H, k, n);
            st(dc * vf, cr, k, n);
          });
          // LN_hh backward over the 4H gate row: dz = dLoss/d(h W_hh^T)
          Vec<T_> t1(T_(0)), t2(T_(0));
          for_vec<T_>(G, [&](int64_t k, int64_t n) {
            Vec<T_> dp = ld<T_>(dpo, k, n), zh = (ld(z, k, n) - vmz) * vrz;
            st(ld(a_ghh, k, n) + dp * zh, a_ghh, k, n);
            Vec<T_> dx = live(dp * ld(pg, k, n), n);
            t1 = t1 + dx;
            t2 = t2 + dx * zh;
          });
          const Vec<T_> n1(hsum(t1) / T_(G)), n2(hsum(t2) / T_(G));
          for_vec<T_>(G, [&](int64_t k, int64_t n) {
            Vec<T_> zh = (ld(z, k, n) - vmz) * vrz;
            st(vrz * (ld<T_>(dpo, k, n) * ld(pg, k, n) - n1 - zh * n2), dzr, k, n);
          });
        }
      });
    }
  });
  Tensor acc = acc_rows.sum(0);
  Tensor dg_hh = acc.narrow(0, 0, G), dg_c = acc.narrow(0, G, H);
  Tensor db_c = has_bc ? acc.narrow(0, G + H, H) : at::empty({0}, dy.options());
  return {dpre, dz, carry, dg_hh, dg_c, db_c};
}

// ------------------------------------------------------------------ minGRU / minLSTM
// h_t = a_t h_{t-1} + b_t with (a, b) from the projected input xp (B, T, kH), fused with the scan:
//   minGRU  (k=2): z = σ(kz), a = 1 - z, b = z g(kh)
//   minLSTM (k=3): a = σ(kf) / (σ(kf) + σ(ki)), b = (1 - a) g(kh)
// g(x) = x + 0.5 (x >= 0), σ(x) otherwise. Past a sequence's end (t >= lengths[b]) the state
// carries unchanged (a = 1, b = 0). One pass over xp forward, one backward (the coefficients are
// recomputed there from xp, cheaper than storing and re-reading them); parallel over (row, H block).
// Columns per task: whole rows (contiguous streaming through xp) when the batch alone gives every
// thread several rows; otherwise 64-column blocks so a small batch still spreads over threads.
inline int64_t min_block(int64_t B, int64_t H) {
  return B >= 4 * at::get_num_threads() ? H : std::min<int64_t>(H, 64);
}

template <typename T>
struct MinCoef {
  Vec<T> a, b, gk, gp;  // coefficients, g(kh) and g'(kh)
  Vec<T> sf, si;        // minLSTM backward only: σ(-kf), σ(-ki)
};

// minLSTM's a = σ(kf) / (σ(kf) + σ(ki)) = (1 + e^-ki) / (2 + e^-ki + e^-kf), evaluated with every
// exponent shifted by m = max(0, -kf, -ki) so nothing overflows; 3 exp instead of the 2 softplus
// (exp + log1p each) and a sigmoid of the Python path (log1p is the costliest op here).
template <typename T, bool kGrad>
inline MinCoef<T> min_coef(const T* x, int64_t H, bool lstm, int64_t k, int64_t n) {
  const Vec<T> one(T(1)), zero(T(0)), half(T(0.5));
  Vec<T> kh = ld(x + (lstm ? 2 : 1) * H, k, n);
  Vec<T> s = sigm(kh);
  Vec<T> pos = kh >= zero;  // all-ones lanes where kh >= 0
  MinCoef<T> c;
  c.gk = Vec<T>::blendv(s, kh + half, pos);
  c.gp = Vec<T>::blendv(s * (one - s), one, pos);
  if (lstm) {
    Vec<T> nf = ld(x, k, n).neg(), ni = ld(x + H, k, n).neg();
    Vec<T> m = at::vec::maximum(zero, at::vec::maximum(nf, ni));
    Vec<T> e0 = m.neg().exp(), ef = (nf - m).exp(), ei = (ni - m).exp();
    c.a = (e0 + ei) / (e0 + e0 + ei + ef);
    if (kGrad) {
      c.sf = ef / (e0 + ef);
      c.si = ei / (e0 + ei);
    }
  } else {
    c.a = one - sigm(ld(x, k, n));
  }
  c.b = (one - c.a) * c.gk;
  return c;
}

int64_t min_gates(const Tensor& xp, const Tensor& h0) {
  const int64_t k = xp.size(2) / h0.size(1);
  TORCH_CHECK((k == 2 || k == 3) && xp.size(2) == k * h0.size(1), "rnnkit native min scan: xp has ",
              xp.size(2), " features, expected 2H (minGRU) or 3H (minLSTM) with H=", h0.size(1));
  return k;
}

Tensor min_fwd(const Tensor& xp, const Tensor& h0, const std::optional<Tensor>& lengths_) {
  check(xp, "xp", xp);
  const Tensor h0c = h0.contiguous();
  check(h0c, "h0", xp);
  const int64_t B = xp.size(0), T = xp.size(1), H = h0.size(1), K = min_gates(xp, h0);
  const bool lstm = K == 3;
  Tensor lengths = lengths_.has_value() && lengths_->defined() ? lengths_->to(at::kLong).contiguous() : Tensor();
  const int64_t* len = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
  Tensor h = at::empty({B, T, H}, xp.options());
  const int64_t blk = min_block(B, H), nblk = (H + blk - 1) / blk;
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_min_fwd", [&] {
    using T_ = scalar_t;
    const T_* xb = xp.data_ptr<T_>();
    const T_* h0p = h0c.data_ptr<T_>();
    T_* hb = h.data_ptr<T_>();
    at::parallel_for(0, B * nblk, std::max<int64_t>(1, 32768 / std::max<int64_t>(T * blk, 1)),
                     [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t b = j / nblk, c0 = (j % nblk) * blk, cn = std::min(blk, H - c0);
        const int64_t end = len ? std::min(len[b], T) : T;
        const T_* prev = h0p + b * H;
        for (int64_t t = 0; t < T; ++t) {
          T_* out = hb + (b * T + t) * H;
          const T_* x = xb + (b * T + t) * K * H;
          for_vec<T_>(cn, [&](int64_t k, int64_t n) {
            const int64_t kk = c0 + k;
            if (t >= end) { st(ld(prev, kk, n), out, kk, n); return; }
            MinCoef<T_> m = min_coef<T_, false>(x, H, lstm, kk, n);
            st(m.a * ld(prev, kk, n) + m.b, out, kk, n);
          });
          prev = out;
        }
      }
    });
  });
  return h;
}

std::tuple<Tensor, Tensor> min_bwd(const Tensor& dh_, const Tensor& xp, const Tensor& h0, const Tensor& h,
                                   const std::optional<Tensor>& lengths_) {
  const Tensor dh = dh_.contiguous(), h0c = h0.contiguous();
  check(dh, "dh", xp);
  const int64_t B = xp.size(0), T = xp.size(1), H = h0.size(1), K = min_gates(xp, h0);
  const bool lstm = K == 3;
  Tensor lengths = lengths_.has_value() && lengths_->defined() ? lengths_->to(at::kLong).contiguous() : Tensor();
  const int64_t* len = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
  Tensor dxp = at::empty_like(xp), dh0 = at::empty({B, H}, xp.options());
  const int64_t blk = min_block(B, H), nblk = (H + blk - 1) / blk;
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_min_bwd", [&] {
    using T_ = scalar_t;
    const T_ *xb = xp.data_ptr<T_>(), *h0p = h0c.data_ptr<T_>(), *hb = h.data_ptr<T_>(), *gb = dh.data_ptr<T_>();
    T_ *dxb = dxp.data_ptr<T_>(), *dh0p = dh0.data_ptr<T_>();
    at::parallel_for(0, B * nblk, std::max<int64_t>(1, 32768 / std::max<int64_t>(T * blk, 1)),
                     [&](int64_t j0, int64_t j1) {
      std::vector<T_> carry_buf(blk);
      T_* carry = carry_buf.data();
      const Vec<T_> one(T_(1));
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t b = j / nblk, c0 = (j % nblk) * blk, cn = std::min(blk, H - c0);
        const int64_t end = len ? std::min(len[b], T) : T;
        std::fill(carry, carry + cn, T_(0));
        for (int64_t t = T - 1; t >= 0; --t) {
          const T_* g = gb + (b * T + t) * H;
          const T_* x = xb + (b * T + t) * K * H;
          T_* dx = dxb + (b * T + t) * K * H;
          const T_* prev = t > 0 ? hb + (b * T + t - 1) * H : h0p + b * H;
          for_vec<T_>(cn, [&](int64_t k, int64_t n) {
            const int64_t kk = c0 + k;
            Vec<T_> d = ld(g, kk, n) + ld<T_>(carry, k, n);  // dLoss/dh_t
            if (t >= end) {  // carried step: a = 1, b = 0, nothing reaches xp
              st(d, carry, k, n);
              for (int64_t q = 0; q < K; ++q) st(Vec<T_>(T_(0)), dx + q * H, kk, n);
              return;
            }
            MinCoef<T_> m = min_coef<T_, true>(x, H, lstm, kk, n);
            st(d * m.a, carry, k, n);
            Vec<T_> ia = one - m.a;
            Vec<T_> gd = (d * m.gk - d * ld(prev, kk, n)) * m.a * ia;  // (db g - da) a (1 - a)
            st(d * ia * m.gp, dx + (K - 1) * H, kk, n);  // d kh
            if (lstm) {  // a = σ(-d'), d' = sp(-kf) - sp(-ki): d'/dkf = σ(kf) - 1, d'/dki = σ(-ki)
              st(gd * m.sf.neg(), dx, kk, n);
              st(gd * m.si, dx + H, kk, n);
            } else {  // a = 1 - z: dkz = (db g - da) z (1 - z)
              st(gd, dx, kk, n);
            }
          });
        }
        std::copy(carry, carry + cn, dh0p + b * H + c0);
      }
    });
  });
  return {dxp, dh0};
}

}  // namespace

TORCH_LIBRARY(rnnkit_native, m) {
  m.def("lstm_fwd(Tensor xp, Tensor h0, Tensor c0, Tensor w_hh, Tensor? peep) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("lstm_bwd(Tensor dy, Tensor? inj, Tensor dcT, Tensor w_hh, Tensor? peep, Tensor cs, Tensor tcs, "
        "Tensor gates) -> (Tensor, Tensor, Tensor)");
  m.def("lnlstm_fwd(Tensor xp, Tensor h0, Tensor c0, Tensor w_hh, Tensor g_hh, Tensor g_c, Tensor? b_c, "
        "float eps_hh, float eps_c) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("lnlstm_bwd(Tensor dy, Tensor? inj, Tensor dcT, Tensor w_hh, Tensor g_hh, Tensor g_c, Tensor? b_c, "
        "Tensor cs, Tensor tls, Tensor gates, Tensor zs, Tensor stats) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("min_fwd(Tensor xp, Tensor h0, Tensor? lengths) -> Tensor");
  m.def("min_bwd(Tensor dh, Tensor xp, Tensor h0, Tensor h, Tensor? lengths) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit_native, CPU, m) {
  m.impl("lstm_fwd", &lstm_fwd);
  m.impl("lstm_bwd", &lstm_bwd);
  m.impl("lnlstm_fwd", &lnlstm_fwd);
  m.impl("lnlstm_bwd", &lnlstm_bwd);
  m.impl("min_fwd", &min_fwd);
  m.impl("min_bwd", &min_bwd);
}
