//! A generator of well-formed protocols for property tests, from a seed.

/// A small deterministic random source, so a failing case is reproducible
/// from its seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Generates a well-formed protocol: single roles `R0..Rk`, optionally a
/// family `F[N]`; messages with unique labels; choices in which the chooser
/// first tells every other role; loops of every kind; per-member rounds.
struct Gen {
    rng: Rng,
    roles: usize,
    family: bool,
    label: usize,
    out: String,
}

impl Gen {
    fn label(&mut self) -> String {
        self.label += 1;
        format!("M{}", self.label)
    }

    fn line(&mut self, depth: usize, text: &str) {
        self.out.push_str(&"  ".repeat(depth + 1));
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn pair(&mut self) -> (String, String) {
        let a = self.rng.below(self.roles);
        let b = (a + 1 + self.rng.below(self.roles - 1)) % self.roles;
        (format!("R{a}"), format!("R{b}"))
    }

    fn tell_all(&mut self, depth: usize, from: usize) {
        for r in 0..self.roles {
            if r != from {
                let l = self.label();
                self.line(depth, &format!("R{from} -> R{r} : {l}"));
            }
        }
        if self.family {
            let l = self.label();
            self.line(depth, &format!("R{from} -> F[*] : {l}"));
        }
    }

    fn block(&mut self, depth: usize, budget: usize) {
        let n = 1 + self.rng.below(4);
        for _ in 0..n {
            self.stmt(depth, budget);
        }
    }

    fn stmt(&mut self, depth: usize, budget: usize) {
        let kind = if budget == 0 { 0 } else { self.rng.below(8) };
        match kind {
            0..=2 => {
                let (a, b) = self.pair();
                let l = self.label();
                self.line(depth, &format!("{a} -> {b} : {l}"));
            }
            3 if self.family => {
                let l = self.label();
                let r = self.rng.below(self.roles);
                if self.rng.below(2) == 0 {
                    self.line(depth, &format!("R{r} -> F[*] : {l}"));
                } else {
                    self.line(depth, &format!("F[*] -> R{r} : {l}"));
                }
            }
            4 => {
                let c = self.rng.below(self.roles);
                self.line(depth, &format!("case choose R{c} of"));
                let branches = 1 + self.rng.below(3);
                for b in 0..branches {
                    self.line(depth + 1, &format!("B{b} ->"));
                    self.tell_all(depth + 2, c);
                    if self.rng.below(2) == 0 {
                        self.block(depth + 2, budget - 1);
                    }
                }
            }
            5 => {
                let n = 1 + self.rng.below(3);
                self.line(depth, &format!("loop repeat {n}"));
                self.block(depth + 1, budget - 1);
            }
            6 => {
                let d = self.rng.below(self.roles);
                self.line(depth, &format!("loop decide by R{d}"));
                self.tell_all(depth + 1, d);
                self.block(depth + 1, budget - 1);
            }
            _ if self.family => {
                let r = self.rng.below(self.roles);
                self.line(depth, "for w in F");
                let (l1, l2) = (self.label(), self.label());
                self.line(depth + 1, &format!("R{r} -> F[w] : {l1}"));
                self.line(depth + 1, &format!("F[w] -> R{r} : {l2}"));
            }
            _ => {
                let (a, b) = self.pair();
                let l = self.label();
                self.line(depth, &format!("{a} -> {b} : {l}"));
            }
        }
    }
}

/// A well-formed protocol (the same for the same seed).
pub fn generate(seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let roles = 2 + rng.below(4);
    let family = rng.below(2) == 0;
    let mut g = Gen {
        rng,
        roles,
        family,
        label: 0,
        out: String::new(),
    };
    let mut names: Vec<String> = (0..roles).map(|r| format!("R{r}")).collect();
    if family {
        names.push("F[N]".into());
    }
    g.out = format!("protocol Gen =\n  roles {}\n", names.join(", "));
    g.block(0, 3);
    // Make sure every role takes part (no unused-role warnings needed).
    g.tell_all(0, 0);
    g.out
}
