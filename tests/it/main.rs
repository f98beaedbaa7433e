mod imaging;
